import type { estypes } from '@elastic/elasticsearch';
import { DomainError } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, parseSearch, searchRequest, searchResult, wordsOf, type ResultSource } from './search.service.ts';

const id = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
const reasonOf = (run: () => unknown) => {
  try {
    run();
    return 'no error';
  } catch (error) {
    return error instanceof DomainError ? error.code : error;
  }
};

describe('parseSearch', () => {
  it('trims the query and defaults the page size', () => {
    expect(parseSearch({ query: '  kettle  ' })).toEqual({ text: 'kettle', first: 20, sort: 'RELEVANCE', after: null, filters: {} });
  });

  it('refuses what no search can mean', () => {
    expect(reasonOf(() => parseSearch({ query: ' ' }))).toBe('INVALID_QUERY');
    expect(reasonOf(() => parseSearch({ query: 'a'.repeat(201) }))).toBe('INVALID_QUERY');
    expect(reasonOf(() => parseSearch({ query: 'a'.repeat(200) }))).toBe('no error');
    expect(reasonOf(() => parseSearch({ query: 'a', first: 101 }))).toBe('INVALID_PAGE_SIZE');
    expect(reasonOf(() => parseSearch({ query: 'a', after: encodeCursor([1.5, 'nope']) }))).toBe('INVALID_CURSOR');
    expect(reasonOf(() => parseSearch({ query: 'a', filter: { minPrice: 2, maxPrice: 1 } }))).toBe('INVALID_PRICE_RANGE');
    expect(reasonOf(() => parseSearch({ query: 'a', filter: { minPrice: 1, maxPrice: 1 } }))).toBe('no error');
    for (const minRating of [0.9, 5.1, Number.NaN]) expect(reasonOf(() => parseSearch({ query: 'a', filter: { minRating } }))).toBe('INVALID_RATING_FILTER');
    expect(reasonOf(() => parseSearch({ query: 'a', filter: { minRating: 4.5 } }))).toBe('no error');
    // A cursor of one sort means nothing in the other.
    expect(reasonOf(() => parseSearch({ query: 'a', sort: 'RATING', after: encodeCursor([1.5, id]) }))).toBe('INVALID_CURSOR');
    expect(reasonOf(() => parseSearch({ query: 'a', after: encodeCursor([4.5, 1.5, id]) }))).toBe('INVALID_CURSOR');
  });
});

describe('cursors', () => {
  it('round-trip the sort values of a hit, exactly', () => {
    expect(decodeCursor(encodeCursor([0.123456789, id]))).toEqual([0.123456789, id]);
  });
});

describe('wordsOf', () => {
  it('keeps letters and digits only, each word once', () => {
    expect(wordsOf('name:* OR _exists_:x "Name" {')).toEqual(['name', 'or', 'exists', 'x']);
    expect(wordsOf('*')).toEqual([]);
  });
});

describe('searchRequest', () => {
  it('filters hits by every filter, and each facet by the others only', () => {
    const request = searchRequest(parseSearch({ query: 'mug', filter: { categoryId: id, maxPrice: 500, inStock: true } }));
    const filtersOf = (query: unknown) => (query as { bool: { filter: unknown[] } }).bool.filter;
    const aggs = request.aggs as Record<string, { filter: unknown }>;
    expect(filtersOf(request.post_filter)).toHaveLength(3);
    expect(filtersOf(aggs['categories']!.filter)).toEqual([{ range: { 'price.amount': { lte: 500 } } }, { term: { inStock: true } }]);
    expect(filtersOf(aggs['prices']!.filter)).toEqual([{ term: { categoryId: id } }, { term: { inStock: true } }]);
  });

  it('sorts by rating (unrated last), then relevance, when asked, and filters on the average', () => {
    const request = searchRequest(parseSearch({ query: 'mug', sort: 'RATING', filter: { minRating: 4 }, after: encodeCursor([4.5, 2, id]) }));
    expect(request.sort).toEqual([{ 'rating.average': { order: 'desc', missing: 0 } }, { _score: { order: 'desc' } }, { id: { order: 'asc' } }]);
    expect(request.search_after).toEqual([4.5, 2, id]);
    expect((request.post_filter as { bool: { filter: unknown[] } }).bool.filter).toEqual([{ range: { 'rating.average': { gte: 4 } } }]);
  });

  it('asks one more hit than the page, after the cursor', () => {
    expect(searchRequest(parseSearch({ query: 'mug', first: 5, after: encodeCursor([2, id]) }))).toMatchObject({ size: 6, search_after: [2, id] });
  });
});

describe('searchResult', () => {
  it('reads a page, its next cursor and the facets (non-empty price bands, upper ends inclusive)', () => {
    const hit = (n: number) => ({ _index: 'products-1', _id: `${n}`, sort: [1, `${n}`], _source: { sku: `SKU-${n}`, name: `Product ${n}`, price: { amount: n * 100, currency: 'EUR' }, categoryId: n === 1 ? id : null } });
    const response = {
      took: 1,
      timed_out: false,
      _shards: { total: 1, successful: 1, failed: 0 },
      hits: { total: { value: 3, relation: 'eq' }, hits: [hit(1), hit(2), hit(3)] },
      aggregations: {
        categories: { ids: { buckets: [{ key: id, doc_count: 3 }] } },
        prices: { ranges: { buckets: [{ to: 1_000, doc_count: 2 }, { from: 1_000, to: 2_500, doc_count: 0 }, { from: 100_000, doc_count: 1 }] } },
      },
    } as unknown as estypes.SearchResponse<ResultSource>;
    const result = searchResult(response, 2);
    expect(result.edges.map((edge) => edge.node)).toEqual([
      { id: '1', sku: 'SKU-1', name: 'Product 1', price: { amount: 100, currency: 'EUR' }, category: { id } },
      { id: '2', sku: 'SKU-2', name: 'Product 2', price: { amount: 200, currency: 'EUR' }, category: null },
    ]);
    expect(result.pageInfo).toEqual({ hasNextPage: true, endCursor: encodeCursor([1, '2']) });
    expect(result.facets).toEqual({
      categories: [{ category: { id }, count: 3 }],
      priceRanges: [{ min: 0, max: 999, count: 2 }, { min: 100_000, max: null, count: 1 }],
    });
  });
});
