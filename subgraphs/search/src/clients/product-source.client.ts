import { queryGraph, type GraphQLRequest, type Logger } from '@shopgraph/kit';
import { catalogFields, type ProductSnapshot } from '../domain/product-document.ts';

/** Catalog's own listing (public), in its order; 100 is its largest page. */
export const PRODUCTS_QUERY = `query SearchReindexProducts($first: Int!, $after: String) {
  products(first: $first, after: $after) {
    edges { node { id sku name description price { amount currency } category { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
/** Inventory's part of the products, asked for as the router asks it (the entity's key as representation). */
export const STOCK_QUERY = 'query SearchReindexStock($products: [_Any!]!) { _entities(representations: $products) { ... on Product { id inStock } } }';
const PAGE_SIZE = 100;

interface CatalogProduct {
  id: string;
  sku: string;
  name: string;
  description: string;
  price: { amount: number; currency: string };
  category: { id: string } | null;
}

interface CatalogPage {
  products: { edges: { node: CatalogProduct }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

export interface ProductSourceOptions {
  /** GraphQL URLs of the subgraphs that own products (catalog) and their stock (inventory). */
  urls: { catalog: string; inventory: string };
  /** For each request. */
  timeoutMs: number;
  logger: Logger;
}

/**
 * Every product as its owners have it now, for a rebuild of the index: catalog's listing page by
 * page, each page with inventory's stock flags, asked directly (not through the router) like any
 * other client of theirs. The next page is fetched while the caller writes the current one.
 */
export function productSource({ urls, timeoutMs, logger }: ProductSourceOptions): { products(): AsyncIterable<ProductSnapshot[]> } {
  const ask = <T>(url: string, what: string, request: GraphQLRequest) => queryGraph<T>({ url, timeoutMs, logger }, what, request, null);

  async function page(after: string | null): Promise<{ products: ProductSnapshot[]; next: string | null }> {
    const { products } = await ask<CatalogPage>(urls.catalog, 'Product listing', { query: PRODUCTS_QUERY, operationName: 'SearchReindexProducts', variables: { first: PAGE_SIZE, after } });
    const nodes = products.edges.map((edge) => edge.node);
    const stock = nodes.length
      ? (await ask<{ _entities: ({ id: string; inStock: boolean } | null)[] }>(urls.inventory, 'Stock lookup', {
          query: STOCK_QUERY,
          operationName: 'SearchReindexStock',
          variables: { products: nodes.map((node) => ({ __typename: 'Product', id: node.id })) },
        }))._entities
      : [];
    if (stock.length !== nodes.length) throw new Error(`Stock lookup answered ${stock.length} products for ${nodes.length}`);
    return {
      products: nodes.map(({ id, sku, name, description, price, category }, i) => ({
        ...catalogFields({ productId: id, sku, name, description, price, categoryId: category?.id ?? null }),
        inStock: stock[i]?.inStock === true,
      })),
      next: products.pageInfo.hasNextPage ? products.pageInfo.endCursor : null,
    };
  }

  return {
    async *products() {
      let next = page(null);
      for (;;) {
        const current = await next;
        if (current.next) {
          next = page(current.next);
          // Awaited on the next turn; a caller that stops early must not leave it unhandled.
          next.catch(() => {});
        }
        yield current.products;
        if (!current.next) return;
      }
    },
  };
}
