import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchedSubgraphs, loadRouterConfig } from './config.ts';

describe('router config', () => {
  it('defaults to port 4000 and the repo\'s generated supergraph', () => {
    const config = loadRouterConfig({});
    expect(config.PORT).toBe(4000);
    expect(config.SUPERGRAPH_PATH).toMatch(/supergraph\.graphql$/);
    expect(existsSync(join(dirname(config.SUPERGRAPH_PATH), 'supergraph.yaml'))).toBe(true);
    expect(config.subgraphUrls).toEqual({});
  });

  it('reads SUBGRAPH_<NAME>_URL overrides', () => {
    const config = loadRouterConfig({ SUBGRAPH_CATALOG_URL: 'http://catalog:4002/graphql', SUBGRAPH_PRODUCT_REVIEWS_URL: 'https://reviews/graphql', SUBGRAPH_TIMEOUT_MS: '5000' });
    expect(config.subgraphUrls).toEqual({ CATALOG: 'http://catalog:4002/graphql', PRODUCT_REVIEWS: 'https://reviews/graphql' });
    expect(config.SUBGRAPH_TIMEOUT_MS).toBe(5000);
  });

  it('reads which subgraphs take batched requests: all by default, none, or some by name', () => {
    expect(batchedSubgraphs(loadRouterConfig({}).SUBGRAPH_BATCHING)).toBe('all');
    expect(batchedSubgraphs(loadRouterConfig({ SUBGRAPH_BATCHING: 'none' }).SUBGRAPH_BATCHING)).toEqual(new Set());
    expect(batchedSubgraphs(loadRouterConfig({ SUBGRAPH_BATCHING: ' catalog, product-reviews ' }).SUBGRAPH_BATCHING)).toEqual(new Set(['catalog', 'product-reviews']));
    expect(() => loadRouterConfig({ SUBGRAPH_BATCHING: 'catalog;cart' })).toThrow(/SUBGRAPH_BATCHING/);
  });

  it('fails fast on a bad value', () => {
    expect(() => loadRouterConfig({ SUBGRAPH_CATALOG_URL: 'catalog:4002' })).toThrow(/SUBGRAPH_CATALOG_URL/);
    expect(() => loadRouterConfig({ LIMIT_MAX_DEPTH: 'deep' })).toThrow(/LIMIT_MAX_DEPTH/);
  });
});
