import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureElasticsearch, type ElasticsearchHandle } from './elasticsearch.ts';
import { repoDirs } from './paths.ts';
import { canConnect, freePort } from './ports.ts';

const { cache: cacheDir, data } = repoDirs(); // the cache is shared with npm start: one download per machine
// Under the repo rather than /tmp: as root the node runs as another user, and it must reach the dir.
mkdirSync(join(data, 'test'), { recursive: true });
const dataDir = mkdtempSync(join(data, 'test', 'elasticsearch-'));
const log = (msg: string): void => console.log(msg);
const savedEnv = process.env.ELASTICSEARCH_URL;
let es: ElasticsearchHandle | undefined;

beforeAll(async () => {
  delete process.env.ELASTICSEARCH_URL; // this file tests the launcher itself: always start a node
  const started = Date.now();
  // Generous: on a machine without the distribution this includes the Maven download.
  es = await ensureElasticsearch({ cacheDir, dataDir, log });
  log(`elasticsearch: ensureElasticsearch took ${Date.now() - started}ms`);
}, 300_000);

afterAll(async () => {
  await es?.stop();
  if (savedEnv === undefined) delete process.env.ELASTICSEARCH_URL;
  else process.env.ELASTICSEARCH_URL = savedEnv;
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${es!.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, json: await res.json() };
}

describe('ensureElasticsearch', () => {
  it('starts a local node whose cluster is healthy', async () => {
    expect(es!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { status, json } = await call('GET', '/_cluster/health');
    expect(status).toBe(200);
    expect(['green', 'yellow']).toContain(json.status);
    expect(json.number_of_nodes).toBe(1);
  });

  it('indexes documents and finds them with a fuzzy match query', async () => {
    const created = await call('PUT', '/products', {
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: { properties: { title: { type: 'text' }, sku: { type: 'keyword' } } },
    });
    expect(created).toMatchObject({ status: 200, json: { acknowledged: true } });
    for (const [id, doc] of [['1', { title: 'Trail running shoes', sku: 'SHOE-1' }], ['2', { title: 'Leather hiking boots', sku: 'BOOT-2' }]] as const) {
      const indexed = await call('PUT', `/products/_doc/${id}?refresh=true`, doc);
      expect(indexed).toMatchObject({ status: 201, json: { result: 'created' } });
    }

    const { status, json } = await call('POST', '/products/_search', {
      query: { match: { title: { query: 'runnnig', fuzziness: 'AUTO' } } },
    });
    expect(status).toBe(200);
    expect(json.hits.total.value).toBe(1);
    expect(json.hits.hits[0]._id).toBe('1');
    expect(json.hits.hits[0]._source).toEqual({ title: 'Trail running shoes', sku: 'SHOE-1' });
  });

  describe('with ELASTICSEARCH_URL', () => {
    afterEach(() => {
      delete process.env.ELASTICSEARCH_URL;
    });

    it('uses it when it answers, without starting another node', async () => {
      process.env.ELASTICSEARCH_URL = es!.url;
      const found = await ensureElasticsearch({ cacheDir, dataDir: join(dataDir, 'unused') });
      expect(found.url).toBe(es!.url);
      await found.stop(); // a no-op: the node is not ours
      expect((await call('GET', '/_cluster/health')).status).toBe(200);
    });

    it('fails loudly when it does not answer', async () => {
      process.env.ELASTICSEARCH_URL = `http://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      await expect(ensureElasticsearch({ cacheDir, dataDir: join(dataDir, 'unused'), urlTimeoutMs: 2000 })).rejects.toThrow(
        /ELASTICSEARCH_URL is set \(http:\/\/127\.0\.0\.1:\d+\/\) but Elasticsearch there did not report a yellow or green cluster within 2000ms: .*ECONNREFUSED/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });

  it('stops the node', async () => {
    const port = Number(new URL(es!.url).port);
    await es!.stop();
    expect(await canConnect('127.0.0.1', port, 500)).toBe(false);
  }, 60_000);
});
