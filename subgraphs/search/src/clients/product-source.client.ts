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
/** Reviews' part: each product's rating. */
export const RATING_QUERY = 'query SearchReindexRating($products: [_Any!]!) { _entities(representations: $products) { ... on Product { id rating { average count } } } }';
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
  /** GraphQL URLs of the subgraphs that own products (catalog), their stock (inventory) and their rating (reviews). */
  urls: { catalog: string; inventory: string; reviews: string };
  /** For each request. */
  timeoutMs: number;
  logger: Logger;
}

/**
 * Every product as its owners have it now, for a rebuild of the index: catalog's listing page by
 * page, each page with inventory's stock flags and reviews' ratings, asked directly (not through the router) like any
 * other client of theirs. The next page is fetched while the caller writes the current one.
 */
export function productSource({ urls, timeoutMs, logger }: ProductSourceOptions): { products(): AsyncIterable<ProductSnapshot[]> } {
  const ask = <T>(url: string, what: string, request: GraphQLRequest) => queryGraph<T>({ url, timeoutMs, logger }, what, request, null);

  async function page(after: string | null): Promise<{ products: ProductSnapshot[]; next: string | null }> {
    const { products } = await ask<CatalogPage>(urls.catalog, 'Product listing', { query: PRODUCTS_QUERY, operationName: 'SearchReindexProducts', variables: { first: PAGE_SIZE, after } });
    const nodes = products.edges.map((edge) => edge.node);
    const entities = async <E>(url: string, what: string, query: string, operationName: string): Promise<(E | null)[]> => {
      if (!nodes.length) return [];
      const { _entities } = await ask<{ _entities: (E | null)[] }>(url, what, { query, operationName, variables: { products: nodes.map((node) => ({ __typename: 'Product', id: node.id })) } });
      if (_entities.length !== nodes.length) throw new Error(`${what} answered ${_entities.length} products for ${nodes.length}`);
      return _entities;
    };
    const [stock, ratings] = await Promise.all([
      entities<{ inStock: boolean }>(urls.inventory, 'Stock lookup', STOCK_QUERY, 'SearchReindexStock'),
      entities<{ rating: { average: number | null; count: number } | null }>(urls.reviews, 'Rating lookup', RATING_QUERY, 'SearchReindexRating'),
    ]);
    return {
      products: nodes.map(({ id, sku, name, description, price, category }, i) => {
        const rating = ratings[i]?.rating;
        return {
          ...catalogFields({ productId: id, sku, name, description, price, categoryId: category?.id ?? null }),
          inStock: stock[i]?.inStock === true,
          // Never rated: no rating, as the consumer leaves it.
          ...(rating && rating.count > 0 ? { rating: { average: rating.average, count: rating.count } } : {}),
        };
      }),
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
