import type { estypes } from '@elastic/elasticsearch';
import { DomainError, isUuid } from '@shopgraph/kit';
import type { CatalogFields } from './product-document.ts';

export const MAX_QUERY_LENGTH = 200;
export const MAX_PAGE_SIZE = 100;
export const MAX_PREFIX_LENGTH = 100;
export const MAX_SUGGESTIONS = 20;
/** Price facet boundaries in minor units: buckets 0–9.99, 10–24.99, … and 1,000 and up. */
export const PRICE_BREAKS = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];
/** Categories a facet lists at most (the largest first). */
const MAX_CATEGORY_FACETS = 100;

/** Elasticsearch cannot answer now (down, unreachable, too slow, or the index is not there yet). */
export class SearchUnavailable extends Error {
  constructor(options?: { cause?: unknown }) {
    super('Search is unavailable right now; try again shortly', options);
    this.name = 'SearchUnavailable';
  }
}

/** Where searches run: the product index's alias (see the product-index client). */
export interface ProductSearchBackend {
  /** Throws SearchUnavailable when Elasticsearch cannot answer in time. */
  search(request: Omit<estypes.SearchRequest, 'index'>): Promise<estypes.SearchResponse<ResultSource>>;
}

export interface ProductSearchFilter {
  categoryId?: string | null;
  minPrice?: number | null;
  maxPrice?: number | null;
  inStock?: boolean | null;
  minRating?: number | null;
}

/** RELEVANCE: best match first. RATING: highest average rating first (unrated last), then best match. */
export type ProductSearchSort = 'RELEVANCE' | 'RATING';

export interface SearchProductsArgs {
  query: string;
  first?: number | null;
  after?: string | null;
  filter?: ProductSearchFilter | null;
  sort?: ProductSearchSort | null;
}

export interface SearchSuggestionsArgs {
  prefix: string;
  first?: number | null;
}

/** A product as a result carries it: catalog's fields from the index, so the router need not ask catalog for them. */
export type ProductResult = Pick<CatalogFields, 'id' | 'sku' | 'name' | 'price'> & { category: { id: string } | null };

/** The fields of an indexed document that a result carries. */
export const RESULT_FIELDS = ['sku', 'name', 'price', 'categoryId'] as const satisfies readonly (keyof CatalogFields)[];
export type ResultSource = Pick<CatalogFields, (typeof RESULT_FIELDS)[number]>;

export interface ProductSearchResult {
  total: number;
  edges: { cursor: string; node: ProductResult }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  facets: {
    categories: { category: { id: string }; count: number }[];
    /** `max` inclusive, null for the open-ended last bucket; only buckets with products. */
    priceRanges: { min: number; max: number | null; count: number }[];
  };
}

/** A search as validated: what it matches, which page, and the filters by facet. */
export interface ParsedSearch {
  text: string;
  first: number;
  sort: ProductSearchSort;
  /** The last result's sort values: [score, id], or [rating, score, id] by RATING. */
  after: (number | string)[] | null;
  filters: { category?: estypes.QueryDslQueryContainer; price?: estypes.QueryDslQueryContainer; stock?: estypes.QueryDslQueryContainer; rating?: estypes.QueryDslQueryContainer };
}

/**
 * The cursor of a result: its place in the ranking (score, then id for ties; by RATING, the
 * rating before them), for `search_after`. Opaque to clients; stable as long as the matching
 * documents do not change.
 */
export function encodeCursor(sort: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(sort)).toString('base64url');
}

export function decodeCursor(cursor: string, sort: ProductSearchSort = 'RELEVANCE'): (number | string)[] {
  const numbers = sort === 'RATING' ? 2 : 1;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === numbers + 1 && value.slice(0, numbers).every(Number.isFinite) && typeof value[numbers] === 'string' && isUuid(value[numbers])) return value as (number | string)[];
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'after is not a cursor this API returned', ['after']);
}

function pageSize(first: number | null | undefined, fallback: number, max: number): number {
  const size = first ?? fallback;
  if (!Number.isSafeInteger(size) || size < 0 || size > max) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${max}`, ['first']);
  return size;
}

/** Checks a search's arguments; every refusal is a DomainError (BAD_USER_INPUT, with `reason` and `field`). */
export function parseSearch(args: SearchProductsArgs): ParsedSearch {
  const text = args.query.trim();
  if (!text) throw new DomainError('INVALID_QUERY', 'query must not be empty', ['query']);
  if (text.length > MAX_QUERY_LENGTH) throw new DomainError('INVALID_QUERY', `query must be at most ${MAX_QUERY_LENGTH} characters`, ['query']);
  const first = pageSize(args.first, 20, MAX_PAGE_SIZE);
  const sort = args.sort ?? 'RELEVANCE';
  const after = args.after ? decodeCursor(args.after, sort) : null;

  const { categoryId, minPrice, maxPrice, inStock, minRating } = args.filter ?? {};
  const filters: ParsedSearch['filters'] = {};
  if (categoryId != null) {
    // A well-formed id catalog does not know simply matches nothing, as in catalog's listing.
    if (!isUuid(categoryId)) throw new DomainError('INVALID_CATEGORY_ID', 'filter.categoryId must be a category id', ['filter', 'categoryId']);
    filters.category = { term: { categoryId: categoryId.toLowerCase() } };
  }
  for (const [name, price] of [['minPrice', minPrice], ['maxPrice', maxPrice]] as const) {
    if (price != null && price < 0) throw new DomainError('INVALID_PRICE_RANGE', `filter.${name} must not be negative`, ['filter', name]);
  }
  if (minPrice != null && maxPrice != null && minPrice > maxPrice) throw new DomainError('INVALID_PRICE_RANGE', 'filter.minPrice must not be above filter.maxPrice', ['filter', 'minPrice']);
  if (minPrice != null || maxPrice != null) filters.price = { range: { 'price.amount': { ...(minPrice != null ? { gte: minPrice } : {}), ...(maxPrice != null ? { lte: maxPrice } : {}) } } };
  // A product inventory has not told us about yet counts as out of stock, as inventory says.
  if (inStock === true) filters.stock = { term: { inStock: true } };
  if (inStock === false) filters.stock = { bool: { must_not: { term: { inStock: true } } } };
  if (minRating != null) {
    if (!(minRating >= 1 && minRating <= 5)) throw new DomainError('INVALID_RATING_FILTER', 'filter.minRating must be between 1 and 5', ['filter', 'minRating']);
    // An unrated product has no average, so it never matches.
    filters.rating = { range: { 'rating.average': { gte: minRating } } };
  }
  return { text, first, sort, after, filters };
}

/** The words of a search, as the index's standard analyzer splits text (letters and digits), each once. */
export const wordsOf = (text: string): string[] => [...new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])];

/**
 * The Elasticsearch request of a search. The text is only ever matched as words (match queries,
 * never query_string), so `name:* OR _exists_:x` finds those words, literally. Each word may be in
 * the name or the description (the name counts three times as much) and tolerates typos
 * (`fuzziness: AUTO`: 1 edit from 3 letters, 2 from 6); a product must match every word of a
 * short query and three in four of a longer one. The whole text as the name's phrase, or as an
 * exact SKU, ranks higher. Facets count as if their own filter were not set (the others apply),
 * so a shopper sees what choosing another category or price would give.
 */
export function searchRequest({ text, first, sort, after, filters }: ParsedSearch): Omit<estypes.SearchRequest, 'index'> {
  const except = (facet?: keyof ParsedSearch['filters']) => Object.entries(filters).filter(([name]) => name !== facet).map(([, query]) => query);
  const ranges = [{ to: PRICE_BREAKS[0] }, ...PRICE_BREAKS.map((from, i) => ({ from, ...(i + 1 < PRICE_BREAKS.length ? { to: PRICE_BREAKS[i + 1] } : {}) }))];
  const words = wordsOf(text).map((word) => ({ multi_match: { query: word, fields: ['name^3', 'description'], fuzziness: 'AUTO', prefix_length: 1, max_expansions: 50 } }));
  return {
    query: {
      bool: {
        should: [
          ...(words.length ? [{ bool: { should: words, minimum_should_match: '2<75%' } }] : []),
          { match_phrase: { name: { query: text, boost: 2 } } },
          { term: { sku: { value: text, boost: 10 } } },
        ],
        minimum_should_match: 1,
      },
    },
    post_filter: { bool: { filter: except() } },
    aggs: {
      categories: { filter: { bool: { filter: except('category') } }, aggs: { ids: { terms: { field: 'categoryId', size: MAX_CATEGORY_FACETS } } } },
      prices: { filter: { bool: { filter: except('price') } }, aggs: { ranges: { range: { field: 'price.amount', ranges } } } },
    },
    sort: [
      // Unrated products sort as 0, below every rated one (an average is 1 at least).
      ...(sort === 'RATING' ? [{ 'rating.average': { order: 'desc' as const, missing: 0 } }] : []),
      { _score: { order: 'desc' } },
      { id: { order: 'asc' } },
    ],
    ...(after ? { search_after: after } : {}),
    size: first + 1,
    track_total_hits: true,
    _source: [...RESULT_FIELDS],
  };
}

interface FacetAggregations {
  categories: { ids: { buckets: { key: string; doc_count: number }[] } };
  prices: { ranges: { buckets: { from?: number; to?: number; doc_count: number }[] } };
}

export function searchResult(response: estypes.SearchResponse<ResultSource>, first: number): ProductSearchResult {
  const hits = response.hits.hits;
  // Only a document with catalog's fields can match (the text is matched against them), so each hit has them.
  const edges = hits.slice(0, first).map(({ _id, _source, sort }) => {
    const { sku, name, price, categoryId } = _source!;
    return { cursor: encodeCursor(sort ?? []), node: { id: _id!, sku, name, price, category: categoryId ? { id: categoryId } : null } };
  });
  const total = response.hits.total;
  const aggregations = response.aggregations as unknown as FacetAggregations;
  return {
    total: typeof total === 'number' ? total : (total?.value ?? 0),
    edges,
    pageInfo: { hasNextPage: hits.length > first, endCursor: edges.at(-1)?.cursor ?? null },
    facets: {
      categories: aggregations.categories.ids.buckets.map((bucket) => ({ category: { id: bucket.key }, count: bucket.doc_count })),
      priceRanges: aggregations.prices.ranges.buckets
        .filter((bucket) => bucket.doc_count > 0)
        .map((bucket) => ({ min: bucket.from ?? 0, max: bucket.to === undefined ? null : bucket.to - 1, count: bucket.doc_count })),
    },
  };
}

/** Product search over the index: full text with typo tolerance, filters, facets, cursor pages, and completions. */
export class SearchService {
  private readonly backend: ProductSearchBackend;

  constructor(backend: ProductSearchBackend) {
    this.backend = backend;
  }

  async searchProducts(args: SearchProductsArgs): Promise<ProductSearchResult> {
    const parsed = parseSearch(args);
    return searchResult(await this.backend.search(searchRequest(parsed)), parsed.first);
  }

  /** Names of products completing what was typed (words of the name from their start; a typo forgiven from 4 letters). */
  async suggestions(args: SearchSuggestionsArgs): Promise<string[]> {
    const first = pageSize(args.first, 8, MAX_SUGGESTIONS);
    const prefix = args.prefix.trim();
    if (prefix.length > MAX_PREFIX_LENGTH) throw new DomainError('INVALID_PREFIX', `prefix must be at most ${MAX_PREFIX_LENGTH} characters`, ['prefix']);
    if (!prefix || first === 0) return [];
    const response = await this.backend.search({
      size: 0,
      _source: ['name'],
      // One option per product; products may share a name, hence more than asked for.
      suggest: { names: { prefix, completion: { field: 'suggest', size: first * 2, fuzzy: { fuzziness: 'AUTO', min_length: 4 } } } },
    });
    const options = response.suggest?.['names']?.flatMap((entry) => (Array.isArray(entry.options) ? entry.options : [entry.options])) ?? [];
    const names = new Map<string, string>();
    for (const option of options) {
      const name = (option as { _source?: { name?: string } })._source?.name;
      if (name && !names.has(name.toLowerCase())) names.set(name.toLowerCase(), name);
    }
    return [...names.values()].slice(0, first);
  }
}
