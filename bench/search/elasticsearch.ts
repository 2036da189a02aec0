// Elasticsearch asked directly, over node:http with keep-alive (the bench's side of the figures:
// the search service's own query with its `took`, and cheap polls of what is searchable).
import http from 'node:http';
import { parseSearch, searchRequest } from '../../subgraphs/search/src/domain/search.service.ts';
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
