// What the harness sends. `guild-heavy` is our own writing of the deeply nested query of The
// Guild's gateway benchmark (every user's reviews, their products and those products' reviews'
// authors' reviews; and the same from the top products), over the demo graph of subgraphs/guild.ts.
// The `shop-*` workloads are ours, over the real supergraph (subgraphs/shop.ts).
import { SHOP_PRODUCT_ID } from './subgraphs/shop.ts';

export type GraphName = 'guild' | 'shop';

export interface Workload {
  name: string;
  graph: GraphName;
  description: string;
  body: { query: string; operationName?: string; variables?: Record<string, unknown> };
  /** When one subgraph answers the whole operation: its name, so the harness can hit it directly (the ceiling). */
  direct?: string;
  /** In the default matrix (the rest run with --workloads). */
  default: boolean;
}

const heavy = /* GraphQL */ `
query Heavy {
  users {
    ...Person
    reviews {
      ...Opinion
      product {
        ...Item
        reviews {
          ...Opinion
          author {
            ...Person
            reviews { ...Opinion product { ...Item } }
          }
        }
      }
    }
  }
  topProducts {
    ...Item
    reviews {
      ...Opinion
      author {
        ...Person
        reviews { ...Opinion product { ...Item } }
      }
    }
  }
}
fragment Person on User { id username name }
fragment Opinion on Review { id body }
fragment Item on Product { upc name price weight inStock shippingEstimate }
`;

export const workloads: Workload[] = [
  {
    name: 'guild-heavy',
    graph: 'guild',
    description: "The Guild benchmark's nested query (4 subgraphs, @requires, @provides)",
    body: { query: heavy, operationName: 'Heavy' },
    default: true,
  },
  {
    name: 'guild-top-products',
    graph: 'guild',
    description: 'Top products with their own fields (products subgraph only)',
    body: { query: 'query TopProducts { topProducts { upc name price weight } }', operationName: 'TopProducts' },
    direct: 'products',
    default: false,
  },
  {
    name: 'shop-product-page',
    graph: 'shop',
    description: 'Product page: product, price, category (catalog) + availability (inventory)',
    body: {
      query: `query ProductPage($id: ID!) {
  product(id: $id) {
    id sku name description
    price { amount currency }
    category { id name slug }
    availableQuantity inStock
  }
}`,
      operationName: 'ProductPage',
      variables: { id: SHOP_PRODUCT_ID },
    },
    default: true,
  },
  {
    name: 'shop-cart',
    graph: 'shop',
    description: 'Cart (@authenticated) with product fields, prices via @requires, stock (cart → catalog → inventory)',
    body: {
      query: `query Cart {
  cart {
    id
    lines {
      id quantity
      product { id name price { amount currency } inStock }
      unitPrice { amount currency }
      lineTotal { amount currency }
    }
    subtotal { amount currency }
  }
}`,
      operationName: 'Cart',
    },
    default: true,
  },
  {
    name: 'shop-one-field',
    graph: 'shop',
    description: "One field of one product (catalog only): the gateway's own overhead",
    body: { query: 'query ProductName($id: ID!) { product(id: $id) { name } }', operationName: 'ProductName', variables: { id: SHOP_PRODUCT_ID } },
    direct: 'catalog',
    default: true,
  },
];
