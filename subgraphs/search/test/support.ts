import type { EventData } from '@shopgraph/events';
import { eventually, graphql, serviceStarter, type GraphQLResponse } from '@shopgraph/testkit';
import { randomBytes } from 'node:crypto';
import { createSearchApp } from '../src/app.ts';
import { loadSearchConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The search service on a database of its own and this file's index prefix, with test seams (see startServiceUnderTest); close it when done. */
export const startSearch = serviceStarter({ name: 'search', createApp: createSearchApp, loadConfig: loadSearchConfig, entities, migrations });

export const SEARCH = `query Search($query: String!, $first: Int, $after: String, $filter: ProductSearchFilter, $sort: ProductSearchSort) {
  searchProducts(query: $query, first: $first, after: $after, filter: $filter, sort: $sort) {
    total
    edges { cursor node { id } }
    pageInfo { hasNextPage endCursor }
    facets { categories { category { id } count } priceRanges { min max count } }
  }
}`;
export const SUGGEST = 'query Suggest($prefix: String!, $first: Int) { searchSuggestions(prefix: $prefix, first: $first) }';

export interface SearchResult {
  total: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  facets: { categories: { category: { id: string }; count: number }[]; priceRanges: { min: number; max: number | null; count: number }[] };
}

export const search = (url: string, variables: Record<string, unknown>): Promise<GraphQLResponse<{ searchProducts: SearchResult }>> => graphql(url, SEARCH, variables);

/** The ids a search finds (its first page, up to 100), failing on any error. */
export async function searchIds(url: string, query: string, filter?: Record<string, unknown>): Promise<string[]> {
  const response = await search(url, { query, first: 100, filter });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data!.searchProducts.edges.map((edge) => edge.node.id);
}

/** Polls the search until `done` holds for the ids it finds (documents are searchable after the next refresh). */
export const searchUntil = (url: string, query: string, done: (ids: string[]) => boolean, filter?: Record<string, unknown>, what = `search "${query}"`) =>
  eventually(async () => {
    const ids = await searchIds(url, query, filter);
    return done(ids) && ids;
  }, what);

/** A word no other test uses (letters only, far from any other), so a test's searches see its own products only. */
export const uniqueWord = (): string => `q${[...randomBytes(9)].map((byte) => String.fromCharCode(97 + (byte % 26))).join('')}`;

/** catalog.product.changed data for a new product. */
export function productData(overrides: Partial<EventData<'catalog.product.changed'>> = {}): EventData<'catalog.product.changed'> {
  return {
    productId: crypto.randomUUID(),
    sku: `SKU-${randomBytes(4).toString('hex')}`,
    name: 'Product',
    description: '',
    price: { amount: 1_000, currency: 'USD' },
    categoryId: null,
    ...overrides,
  };
}

export const stockLevel = (productId: string, inStock: boolean): EventData<'inventory.stock.level-changed'> => ({ productId, availableQuantity: inStock ? 5 : 0, inStock });
