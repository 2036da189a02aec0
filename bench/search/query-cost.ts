// Diagnostic: what in the search service's Elasticsearch query costs the CPU (BENCHMARKS.md,
// "Search"). Elasticsearch alone (no stack): the bench's shop indexed as the service indexes it
// (its own mapping and rebuild), then the service's request for the bench's searches and variants
// of it without one feature each, one query at a time, twice over; Elasticsearch's CPU per query
// from /proc; and how many products the searches match.
//   node bench/search/query-cost.ts [--products 100000] [--seconds 10]
import { sleep } from '@shopgraph/core/lifecycle';
import { createLogger } from '@shopgraph/kit';
import { ensureElasticsearch, repoDirs } from '@shopgraph/infra';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { productIndex } from '../../subgraphs/search/src/clients/product-index.client.ts';
import { percentile } from '../lib/stats.ts';
import { cpuBetween, sampleCpu } from '../saga/cpu.ts';
import { generateShop } from './catalog.ts';
import { dropIndices, elasticsearchClient, indexShop, searchBody } from './elasticsearch.ts';
import { closedLoop } from './load.ts';
import { searchMix } from './queries.ts';

const { values: args } = parseArgs({ options: { products: { type: 'string', default: '100000' }, seconds: { type: 'string', default: '10' } } });
const products = Number(args.products);
const seconds = Number(args.seconds);
const prefix = `querycost${Date.now().toString(36)}-`;
const never = new AbortController().signal;

type Body = ReturnType<typeof searchBody> & { query: { bool: { should: { bool?: { should: { multi_match: Record<string, unknown> }[] } }[] } } };
const wordClauses = (body: Body) => body.query.bool.should[0]?.bool?.should ?? [];
const VARIANTS: [string, (body: Body) => void][] = [
  ['as the service sends it', () => {}],
  ['no facets (aggregations)', (b) => {
    delete b.aggs;
  }],
  ['no facets, total counted up to 10,000', (b) => {
    delete b.aggs;
    delete b.track_total_hits;
  }],
  ['no typo tolerance (fuzziness)', (b) => {
    for (const { multi_match: words } of wordClauses(b)) {
      delete words['fuzziness'];
      delete words['max_expansions'];
      delete words['prefix_length'];
    }
  }],
  ['words matched in the name only', (b) => {
    for (const { multi_match: words } of wordClauses(b)) words['fields'] = ['name^3'];
  }],
];

const { cache, data } = repoDirs();
const es = await ensureElasticsearch({ cacheDir: cache, dataDir: join(data, 'bench-search', 'elasticsearch'), log: (m) => console.error(m) });
const client = elasticsearchClient(es.url, { maxSockets: 4, timeoutMs: 30_000 });
try {
  const shop = generateShop(products);
  const index = productIndex({ url: es.url, prefix, searchTimeoutMs: 10_000, indexingTimeoutMs: 60_000, logger: createLogger('query-cost', 'warn') });
  await indexShop(index, shop.products);
  await index.close();
  console.error(`indexed ${products} products`);
  const alias = `${prefix}products`;
  const cases = searchMix(shop.products, 4_000);
  const send = (bodies: readonly unknown[]) => async (i: number) => {
    const { status, body } = await client.request<{ took: number }>('POST', `/${alias}/_search`, bodies[i % bodies.length]);
    return { ok: status === 200, value: body.took };
  };
  // Elasticsearch's JIT first.
  await closedLoop({ concurrency: 2, seconds: 30, signal: never, send: send(cases.map((c) => searchBody(c, 20))) });
  console.log(`Elasticsearch's CPU per search over ${products} products, one search at a time, ${seconds} s per variant`);
  for (const round of [1, 2]) {
    for (const [name, change] of VARIANTS) {
      const bodies = cases.map((c) => {
        const body = searchBody(c, 20) as Body;
        change(body);
        return body;
      });
      await sleep(1_000);
      const before = sampleCpu('none');
      const result = await closedLoop({ concurrency: 1, seconds, signal: never, send: send(bodies) });
      const cpu = cpuBetween(before, sampleCpu('none'));
      const took = result.samples.map((s) => s.outcome.value ?? Number.NaN);
      const cpuMs = ((cpu.byLabel['elasticsearch (JVMs)'] ?? 0) * 10 * cpu.seconds) / result.samples.length;
      console.log(`  round ${round}  ${name.padEnd(40)} ${cpuMs.toFixed(1).padStart(5)} ms CPU   took p50 ${percentile(took, 50)} ms, p99 ${percentile(took, 99)} ms   (${result.samples.length} searches; others ${cpu.otherPct} % of a core)`);
    }
  }
  const totals: number[] = [];
  for (const search of cases.slice(0, 500)) {
    const { body } = await client.request<{ hits: { total: { value: number } } }>('POST', `/${alias}/_search`, searchBody(search, 20));
    totals.push(body.hits.total.value);
  }
  console.log(`  products matched per search: p50 ${percentile(totals, 50)}, p90 ${percentile(totals, 90)}, max ${percentile(totals, 100)}`);
} finally {
  await dropIndices(client, prefix).catch(() => {});
  client.close();
  await es.stop();
}
