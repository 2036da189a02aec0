import { elasticsearchUrl, errorCodes, graphql, outageProxy, testIndexPrefix, testLogger, type Outage } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIndex } from '../subgraphs/search/src/clients/product-index.client.ts';
import { productSource } from '../subgraphs/search/src/clients/product-source.client.ts';
import { rebuildIndex } from '../subgraphs/search/src/domain/reindex.service.ts';
import { operation } from './operations.ts';
import { staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Product search through the router: catalog's and inventory's changes reach the search index
// through their events, and the results are federated Products (catalog's and inventory's fields).
// Search reaches Elasticsearch through a proxy the test can cut.

let graph: RunningSupergraph;
let elasticsearch: Outage;
let staff: string;
let categoryId: string;

beforeAll(async () => {
  elasticsearch = await outageProxy(elasticsearchUrl());
  graph = await startSupergraph({ ELASTICSEARCH_URL: elasticsearch.url });
  staff = await staffToken(graph);
  const category = await call('CreateCategory', { input: { name: 'Outdoor', slug: 'outdoor' } }, staff);
  categoryId = category.data!['createCategory'].category.id;
});

afterAll(async () => {
  await graph?.close();
  await elasticsearch?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);

async function createProduct(input: { sku: string; name: string; description?: string; price: number; stock: number }): Promise<string> {
  const created = await call('CreateProduct', { input: { sku: input.sku, name: input.name, description: input.description ?? '', price: { amount: input.price, currency: 'USD' }, categoryId } }, staff);
  expect(created.data!['createProduct'].errors).toEqual([]);
  const id: string = created.data!['createProduct'].product.id;
  expect((await call('SetStock', { input: { productId: id, quantity: input.stock } }, staff)).data!['setStock'].errors).toEqual([]);
  return id;
}

const searchProducts = async (variables: Record<string, unknown>) => {
  const response = await call('SearchProducts', variables);
  expect(response.errors).toBeUndefined();
  return response.data!['searchProducts'];
};

describe('search through the router', () => {
  let boots: string;

  it('finds products as catalog and inventory describe them, with any of their fields', async () => {
    boots = await createProduct({ sku: 'E2E-BOOTS', name: 'Hiking boots', description: 'Waterproof leather', price: 12_900, stock: 4 });
    const tent = await createProduct({ sku: 'E2E-TENT', name: 'Tent', description: 'Sleeps two, for hiking trips', price: 24_900, stock: 0 });

    // `inStock` in a result is inventory's live answer; the filter reads the index, so wait on the filter.
    await until('the product in stock indexed as in stock', async () => {
      const result = await searchProducts({ query: 'hiking', filter: { inStock: true } });
      return result.edges.length === 1 && result.edges[0].node.id === boots;
    });
    const found = await until('both products searchable', async () => {
      const result = await searchProducts({ query: 'hikng' });
      return result.total === 2 && result;
    });
    expect(found.edges.map((edge: any) => edge.node)).toEqual([
      { id: boots, sku: 'E2E-BOOTS', name: 'Hiking boots', price: { amount: 12_900, currency: 'USD' }, category: { id: categoryId, name: 'Outdoor' }, availableQuantity: 4, inStock: true },
      { id: tent, sku: 'E2E-TENT', name: 'Tent', price: { amount: 24_900, currency: 'USD' }, category: { id: categoryId, name: 'Outdoor' }, availableQuantity: 0, inStock: false },
    ]);
    expect(found.facets).toEqual({
      categories: [{ category: { id: categoryId, name: 'Outdoor' }, count: 2 }],
      priceRanges: [{ min: 10_000, max: 24_999, count: 2 }],
    });
    expect((await searchProducts({ query: 'hiking', filter: { inStock: false } })).edges.map((edge: any) => edge.node.id)).toEqual([tent]);

    const suggestions = await call('SearchSuggestions', { prefix: 'hik' });
    expect(suggestions.data!['searchSuggestions']).toEqual(['Hiking boots']);
  });

  it('follows a rename and a sale of the last units', async () => {
    expect((await call('UpdateProduct', { input: { id: boots, name: 'Trail boots' } }, staff)).data!['updateProduct'].errors).toEqual([]);
    expect((await call('SetStock', { input: { productId: boots, quantity: 0 } }, staff)).data!['setStock'].errors).toEqual([]);
    await until('the renamed, sold-out product', async () => {
      const result = await searchProducts({ query: 'trail', filter: { inStock: false } });
      return result.edges.some((edge: any) => edge.node.id === boots && edge.node.name === 'Trail boots');
    });
  });

  it('rebuilds the index from catalog and inventory with `search:reindex`, searches served throughout', async () => {
    const index = productIndex({ url: elasticsearchUrl(), prefix: testIndexPrefix, searchTimeoutMs: 2_000, indexingTimeoutMs: 10_000, logger: testLogger('reindex') });
    const source = productSource({ urls: { catalog: graph.subgraphUrls['catalog']!, inventory: graph.subgraphUrls['inventory']!, reviews: graph.subgraphUrls['reviews']! }, timeoutMs: 10_000, logger: testLogger('reindex') });
    let searching = true;
    const failures: unknown[] = [];
    const searcher = (async () => {
      while (searching) {
        const response = await call('SearchProducts', { query: 'tent' });
        if (response.errors || response.data!['searchProducts'].total !== 1) failures.push(response.errors ?? response.data);
      }
    })();
    try {
      const result = await rebuildIndex({ index, products: () => source.products(), drainMs: 500 });
      expect(result.products).toBe(2);
    } finally {
      searching = false;
      await searcher;
      await index.close();
    }
    expect(failures).toEqual([]);
    const rebuilt = await searchProducts({ query: 'boots' });
    expect(rebuilt.edges.map((edge: any) => edge.node)).toMatchObject([{ id: boots, name: 'Trail boots', inStock: false }]);
  });

  it('answers SEARCH_UNAVAILABLE at once while Elasticsearch is away, and the rest of the shop works', async () => {
    elasticsearch.cut();
    try {
      const started = performance.now();
      const response = await call('SearchProducts', { query: 'tent' });
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(errorCodes(response)).toEqual(['SEARCH_UNAVAILABLE']);
      expect(JSON.stringify(response.errors)).not.toMatch(/elastic|ECONN|socket|exception/i);
      const browsing = await call('Products', { first: 10 });
      expect(browsing.errors).toBeUndefined();
      expect(browsing.data!['products'].totalCount).toBe(2);
      const product = await call('Product', { id: boots });
      expect(product.data!['product']).toMatchObject({ name: 'Trail boots', inStock: false });
      // Changed meanwhile: indexed once Elasticsearch is back.
      expect((await call('UpdateProduct', { input: { id: boots, name: 'Mountain boots' } }, staff)).data!['updateProduct'].errors).toEqual([]);
    } finally {
      elasticsearch.restore();
    }
    await until('the change made while Elasticsearch was away', async () => (await searchProducts({ query: 'mountain' })).total === 1);
  });
});
