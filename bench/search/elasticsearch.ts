// Elasticsearch asked directly, over node:http with keep-alive (the bench's side of the figures:
// the search service's own query with its `took`, and cheap polls of what is searchable).
import http from 'node:http';
import type { ProductIndex } from '../../subgraphs/search/src/clients/product-index.client.ts';
import { catalogFields, type CatalogFields } from '../../subgraphs/search/src/domain/product-document.ts';
import { rebuildIndex, type RebuildResult } from '../../subgraphs/search/src/domain/reindex.service.ts';
import { parseSearch, searchRequest } from '../../subgraphs/search/src/domain/search.service.ts';
import type { ProductSpec } from './catalog.ts';
import type { SearchCase } from './queries.ts';

export interface ElasticsearchClient {
  request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): void;
}

export function elasticsearchClient(baseUrl: string, options: { maxSockets: number; timeoutMs: number }): ElasticsearchClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const request = <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        new URL(path, baseUrl),
        { method, agent, timeout: options.timeoutMs, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
            } catch (error) {
              reject(new Error(`HTTP ${res.statusCode}: not JSON`, { cause: error }));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  };
  return { request, close: () => agent.destroy() };
}

/** The body the search service sends Elasticsearch for this search (its own code, so the two cannot drift apart). */
export const searchBody = (search: SearchCase, first: number) => searchRequest(parseSearch({ query: search.query, first, filter: search.filter ?? null }));

/** A bench product's fields as catalog's event would carry them into the index. */
export const indexedFields = (p: ProductSpec): CatalogFields =>
  catalogFields({ productId: p.id, sku: p.sku, name: p.name, description: p.description, price: { amount: p.price, currency: 'USD' }, categoryId: p.categoryId });

/** Indexes the shop as the service's own rebuild does (without the stack: for the diagnostics). */
export function indexShop(index: ProductIndex, products: readonly ProductSpec[]): Promise<RebuildResult> {
  return rebuildIndex({
    index,
    drainMs: 0,
    async *products() {
      for (let from = 0; from < products.length; from += 1_000) yield products.slice(from, from + 1_000).map((p) => ({ ...indexedFields(p), inStock: p.inStock }));
    },
  });
}

/** The index the alias points at now (undefined: no alias). */
export async function aliasTarget(es: ElasticsearchClient, alias: string): Promise<string | undefined> {
  const { status, body } = await es.request<Record<string, unknown>>('GET', `/_alias/${encodeURIComponent(alias)}`);
  return status === 200 ? Object.keys(body)[0] : undefined;
}

/** Drops every index whose name starts with `prefix`, except those starting with `keep` (the node keeps its data between runs). */
export async function dropIndices(es: ElasticsearchClient, prefix: string, keep?: string): Promise<void> {
  if (!prefix) throw new Error('dropIndices needs a prefix');
  // By name: deleting by wildcard is refused (action.destructive_requires_name).
  const { body } = await es.request<{ index: string }[]>('GET', `/_cat/indices/${encodeURIComponent(prefix)}*?format=json&h=index&expand_wildcards=all`);
  const names = body.map((row) => row.index).filter((name) => name.startsWith(prefix) && !(keep && name.startsWith(keep)));
  if (names.length) await es.request('DELETE', `/${names.map(encodeURIComponent).join(',')}`);
}

/** Elasticsearch's own time (ms, summed over its threads) by kind of work, from node stats: where its CPU goes. */
export interface ElasticsearchWork {
  indexing: number;
  gets: number;
  searches: number;
  refreshes: number;
  /** Of `refreshes`, those that make changes searchable (the others: internal, e.g. for a realtime get). */
  externalRefreshes: number;
  merges: number;
  flushes: number;
  /** Counts beside the times. */
  indexed: number;
  refreshCount: number;
  mergeCount: number;
}

export async function elasticsearchWork(es: ElasticsearchClient): Promise<ElasticsearchWork> {
  interface Stats {
    indexing: { index_time_in_millis: number; index_total: number };
    get: { time_in_millis: number };
    search: { query_time_in_millis: number; fetch_time_in_millis: number; suggest_time_in_millis: number };
    refresh: { total_time_in_millis: number; total: number; external_total_time_in_millis: number };
    merges: { total_time_in_millis: number; total: number };
    flush: { total_time_in_millis: number };
  }
  const { body } = await es.request<{ nodes: Record<string, { indices: Stats }> }>('GET', '/_nodes/_local/stats/indices/indexing,get,search,refresh,merge,flush');
  const s = Object.values(body.nodes)[0]!.indices;
  return {
    indexing: s.indexing.index_time_in_millis,
    gets: s.get.time_in_millis,
    searches: s.search.query_time_in_millis + s.search.fetch_time_in_millis + s.search.suggest_time_in_millis,
    refreshes: s.refresh.total_time_in_millis,
    externalRefreshes: s.refresh.external_total_time_in_millis,
    merges: s.merges.total_time_in_millis,
    flushes: s.flush.total_time_in_millis,
    indexed: s.indexing.index_total,
    refreshCount: s.refresh.total,
    mergeCount: s.merges.total,
  };
}

export const workBetween = (before: ElasticsearchWork, after: ElasticsearchWork): ElasticsearchWork =>
  Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - before[key as keyof ElasticsearchWork]])) as unknown as ElasticsearchWork;
