// `npm run bench:search`: the figures of product search and the cart cache on this machine (see
// BENCHMARKS.md, "Search"). The whole supergraph runs as processes (scripts/stack.ts: the
// subgraphs, the router, real Postgres, Kafka, Redis and Elasticsearch); the shop is written into
// catalog's and inventory's databases in bulk and the index built from them by
// `npm run search:reindex`. Then:
//  1. searchProducts at fixed rates (open loop) through the router, of the search subgraph alone,
//     and as the search service's own Elasticsearch query sent directly, with its `took`;
//  2. product change → searchable, while changes flow at a fixed rate against catalog: one
//     updateProduct per change (staff editing), then updateProducts of --feed-batch changes (a feed);
//  3. a full reindex with searches running throughout: its time, and failed searches;
//  4. cart reads with the Redis cache and without (a second cart process), as ratios.
// Nothing is pinned: the stack's processes share both cores, as in bench:saga; every window
// records the CPU of each process and of the machine's other users.
// Prints a table and writes bench/results/search-<timestamp>.json. Loopback only; stops by itself.
//
// Options: --products 100000  --seconds 20  --warmup 30  --rates 20,50,100,300  --changes 20,100,500  --reindex-rate 20
//          --feed 500  --feed-batch 50  --feed-warmup 90
//          --customers 1000  --lines 3  --cart-concurrency 16  --cart-rate 200  --cart-seconds 10  --cart-rounds 3
//          --only search,freshness,reindex,cart (the index is always built)
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from '@shopgraph/core/lifecycle';
import { scrapeMetrics, type Scrape } from '@shopgraph/testkit/metrics';
import { operation } from '../e2e/operations.ts';
import { startStack, type Stack } from '../scripts/stack.ts';
import { machineInfo } from './lib/machine.ts';
import { positive, startBenchRun } from './lib/run.ts';
import { histogramBetween } from './lib/stats.ts';
import { cpuBetween, loadAverage, sampleCpu, type CpuUsage } from './saga/cpu.ts';
import { graphqlClient } from './saga/http.ts';
import { benchCart, type CartResult } from './search/cart.ts';
import { generateShop, seedCarts, seedShop } from './search/catalog.ts';
import { dropIndices, elasticsearchClient, elasticsearchWork, workBetween, type ElasticsearchWork } from './search/elasticsearch.ts';
import { measureFreshness, POLL_EVERY_MS, type FreshnessResult } from './search/freshness.ts';
import { closedLoop, openLoop, type Outcome } from './search/load.ts';
import { nounSearches, searchMix } from './search/queries.ts';
import { runReindex, type ReindexResult } from './search/reindex.ts';
import { directSearch, routerSearch, subgraphSearch, summarize, type WindowSummary } from './search/searches.ts';

const FIGURES = ['search', 'freshness', 'reindex', 'cart'] as const;
const { values: args } = parseArgs({
  options: {
    products: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '30' },
    rates: { type: 'string', default: '20,50,100,300' },
    changes: { type: 'string', default: '20,100,500' },
    feed: { type: 'string', default: '500' },
    'feed-batch': { type: 'string', default: '50' },
    'feed-warmup': { type: 'string', default: '90' },
    'reindex-rate': { type: 'string', default: '20' },
    customers: { type: 'string', default: '1000' },
    lines: { type: 'string', default: '3' },
    'cart-concurrency': { type: 'string', default: '16' },
    'cart-rate': { type: 'string', default: '200' },
    'cart-seconds': { type: 'string', default: '10' },
    'cart-rounds': { type: 'string', default: '3' },
    only: { type: 'string', default: FIGURES.join(',') },
  },
});
const only = new Set((args.only ?? '').split(',').map((s) => s.trim()));
for (const figure of only) if (!(FIGURES as readonly string[]).includes(figure)) throw new Error(`--only takes ${FIGURES.join(',')} (got ${figure})`);
const options = {
  products: Math.round(positive('products', args.products)),
  seconds: positive('seconds', args.seconds),
  warmupS: positive('warmup', args.warmup),
  rates: (args.rates ?? '').split(',').map((r) => positive('rates', r)),
  changeRates: (args.changes ?? '').split(',').map((r) => positive('changes', r)),
  feedRates: (args.feed ?? '').split(',').map((r) => positive('feed', r)),
  feedBatch: Math.round(positive('feed-batch', args['feed-batch'])),
  feedWarmupS: positive('feed-warmup', args['feed-warmup']),
  reindexRate: positive('reindex-rate', args['reindex-rate']),
  customers: Math.round(positive('customers', args.customers)),
  lines: Math.round(positive('lines', args.lines)),
  cartConcurrency: Math.round(positive('cart-concurrency', args['cart-concurrency'])),
  cartRate: positive('cart-rate', args['cart-rate']),
  cartSeconds: positive('cart-seconds', args['cart-seconds']),
  cartRounds: Math.round(positive('cart-rounds', args['cart-rounds'])),
  figures: FIGURES.filter((f) => only.has(f)),
};

const TARGETS = { searchP99Ms: 50, searchableP99Ms: 1000, failedDuringReindex: 0 };
const CURRENCY = 'USD'; // catalog's default CURRENCY
const DB_PREFIX = 'benchsearch';
const { startedAt, log, signal } = startBenchRun(45);

const machine = machineInfo();
const load = { start: loadAverage(), end: '' };
log(`${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${load.start}`);

interface SearchRate {
  rate: number;
  /** SearchProducts through the router, as the web client sends it. */
  router: WindowSummary & { cpu: CpuUsage };
  /** The search subgraph alone, asked directly for its own fields. */
  subgraph: WindowSummary & { cpu: CpuUsage };
  /** The same searches' Elasticsearch requests, sent directly; `values` is Elasticsearch's `took`. */
  elasticsearch: WindowSummary & { cpu: CpuUsage };
}

const run = `${DB_PREFIX}${randomBytes(3).toString('hex')}`;
const staff = { email: 'staff@bench.test', password: `bench-${randomBytes(8).toString('hex')}`, name: 'Bench Staff' };
const serviceEnv = {
  KAFKA_TOPIC_PREFIX: `${run}.`,
  ELASTICSEARCH_INDEX_PREFIX: `${run}-`,
  REDIS_KEY_PREFIX: `${run}:`,
  LOG_LEVEL: 'warn',
  NODE_ENV: 'production',
  STAFF_EMAIL: staff.email,
  STAFF_PASSWORD: staff.password,
  STAFF_NAME: staff.name,
};
const alias = `${serviceEnv.ELASTICSEARCH_INDEX_PREFIX}products`;

/** How long after catalog's commit search's consumer had a window's changes written to the index (from its event-age histogram). */
interface IndexedAfter {
  events: number;
  p50Ms: number;
  p99Ms: number;
}
const indexedAfter = (before: Scrape, after: Scrape): IndexedAfter => {
  const { count, upTo } = histogramBetween(before, after, 'shopgraph_consumer_event_age_seconds', { group: 'search.index', topic: `${serviceEnv.KAFKA_TOPIC_PREFIX}catalog.product.v1` }, [0.5, 0.99]);
  return { events: count, p50Ms: upTo[0]! * 1000, p99Ms: upTo[1]! * 1000 };
};
const results: {
  seedSeconds?: number;
  /** What the stack's processes use doing nothing, % of a core (settling waits for about this). */
  idleStackPct?: number;
  build?: ReindexResult;
  search?: SearchRate[];
  freshness?: (FreshnessResult & { cpu: CpuUsage; elasticsearch: ElasticsearchWork; indexed: IndexedAfter })[];
  reindex?: { reindex: ReindexResult; searches: WindowSummary; cpu: CpuUsage };
  cart?: CartResult;
} = {};
let failure: unknown;
let stack: Stack | undefined;
try {
  log(`starting the supergraph (subgraphs + router as processes, Postgres, Kafka, Redis, Elasticsearch; run ${run})`);
  stack = await startStack({ ports: 'free', databasePrefix: DB_PREFIX, fresh: true, dataDir: 'bench-search', env: serviceEnv, log: (message) => log(`  stack: ${message}`) });
  await measure(stack);
} catch (error) {
  failure = error;
} finally {
  if (stack) {
    log('stopping the supergraph');
    await stack.stop().catch((error: unknown) => log(`stopping the stack failed: ${String(error)}`));
    // 100,000 products are not worth keeping on a shared server.
    await stack.dropDatabases();
  }
}
load.end = loadAverage();

const command = `npm run bench:search${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const report = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  command,
  machine,
  loadAverage: load,
  options,
  targets: TARGETS,
  ...results,
  logs: stack?.logs,
  interrupted: signal.aborted,
  error: failure ? String(failure instanceof Error ? (failure.stack ?? failure.message) : failure) : undefined,
};
const resultsDir = join(import.meta.dirname, 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `search-${startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(table(report));
console.log(`\nresults: ${file}`);
if (failure) {
  console.error(failure);
  process.exitCode = 1;
}
setTimeout(() => process.exit(), 1_000).unref();

/** Seeds the shop, builds the index, and measures each figure asked for into `results`. */
async function measure(stack: Stack): Promise<void> {
  const es = elasticsearchClient(stack.elasticsearchUrl, { maxSockets: 256, timeoutMs: 10_000 });
  const router = graphqlClient(stack.routerUrl, { maxSockets: 256, timeoutMs: 10_000 });
  try {
    // What an interrupted run left (Ctrl-C stops Elasticsearch before the run can drop its indices).
    await dropIndices(es, DB_PREFIX, serviceEnv.ELASTICSEARCH_INDEX_PREFIX);
    const reindexEnv = {
      ELASTICSEARCH_URL: stack.elasticsearchUrl,
      ELASTICSEARCH_INDEX_PREFIX: serviceEnv.ELASTICSEARCH_INDEX_PREFIX,
      SUBGRAPH_CATALOG_URL: stack.subgraphUrls['catalog']!,
      SUBGRAPH_INVENTORY_URL: stack.subgraphUrls['inventory']!,
      SUBGRAPH_REVIEWS_URL: stack.subgraphUrls['reviews']!,
      LOG_LEVEL: 'warn',
    };
    const reindex = (name: string) => runReindex({ root: join(import.meta.dirname, '..'), env: reindexEnv, logFile: join(stack.logs, `${name}.log`), es, alias, signal });
    /** CPU of the stack's processes (the bench's own aside) over one second, in % of a core. */
    const stackCpu = async () => {
      const before = sampleCpu(`${DB_PREFIX}_`);
      await sleep(1_000, signal);
      const cpu = cpuBetween(before, sampleCpu(`${DB_PREFIX}_`));
      return Object.entries(cpu.byLabel).filter(([label]) => !label.startsWith('bench')).reduce((sum, [, pct]) => sum + pct, 0);
    };
    let idlePct = Number.POSITIVE_INFINITY;
    /** Until the stack is back to idle (two seconds in a row), so an overloaded window leaves no backlog to the next; at most 90 s. */
    const settle = async () => {
      const until = performance.now() + 90_000;
      for (let quiet = 0; quiet < 2 && performance.now() < until && !signal.aborted; ) quiet = (await stackCpu()) <= idlePct * 1.3 + 15 ? quiet + 1 : 0;
      if (performance.now() >= until) log('the stack is still busy after 90 s; going on');
    };
    const window = async <T>(work: () => Promise<T>): Promise<T & { cpu: CpuUsage }> => {
      const before = sampleCpu(`${DB_PREFIX}_`);
      const result = await work();
      return { ...result, cpu: cpuBetween(before, sampleCpu(`${DB_PREFIX}_`)) };
    };

    // The shop, then the index from it.
    const shop = generateShop(options.products);
    const seedStart = performance.now();
    await seedShop({ catalog: stack.databaseUrls['catalog']!, inventory: stack.databaseUrls['inventory']! }, shop, CURRENCY);
    results.seedSeconds = Math.round((performance.now() - seedStart) / 100) / 10;
    log(`seeded ${options.products} products in ${shop.categories.length} categories into catalog and inventory in ${results.seedSeconds} s; building the index (npm run search:reindex)`);
    results.build = await reindex('search-reindex-build');
    if (results.build.exitCode !== 0 || results.build.products !== options.products) throw new Error(`building the index failed: ${results.build.lastLine}`);
    idlePct = Math.min(await stackCpu(), await stackCpu(), await stackCpu());
    results.idleStackPct = Math.round(idlePct);
    log(`index built: ${results.build.products} products in ${results.build.seconds} s (alias swapped after ${results.build.swapAfterS} s); the stack idles at ${Math.round(idlePct)} % of a core`);

    if (options.figures.includes('search') && !signal.aborted) {
      const cases = searchMix(shop.products, 10_000);
      // Elasticsearch's JIT first: its first few thousand searches cost twice the CPU of later ones.
      log(`searches: warm-up, ${options.warmupS} s of Elasticsearch queries back to back (2 at a time), then 10 s at 20/s through the router`);
      const warmup = cases.slice(-2_000);
      await closedLoop({ concurrency: 2, seconds: options.warmupS, signal, send: directSearch(es, alias, warmup) });
      await openLoop({ rate: 20, seconds: 10, maxInFlight: 256, signal, send: routerSearch(router, warmup) });
      results.search = [];
      const subgraph = graphqlClient(stack.subgraphUrls['search']!, { maxSockets: 256, timeoutMs: 10_000 });
      try {
        for (const rate of options.rates) {
          if (signal.aborted) break;
          const searchWindow = async (send: (i: number) => Promise<Outcome>, withTook = false) => {
            await settle();
            return window(async () => summarize(await openLoop({ rate, seconds: options.seconds, maxInFlight: 256, signal, send }), withTook));
          };
          const routerWindow = await searchWindow(routerSearch(router, cases));
          const subgraphWindow = await searchWindow(subgraphSearch(subgraph, cases));
          const esWindow = await searchWindow(directSearch(es, alias, cases), true);
          results.search.push({ rate, router: routerWindow, subgraph: subgraphWindow, elasticsearch: esWindow });
          log(
            `searches at ${rate}/s: router p50 ${routerWindow.latencyMs.p50} ms p99 ${routerWindow.latencyMs.p99} ms (failed ${JSON.stringify(routerWindow.failed)}, skipped ${routerWindow.skipped}); ` +
              `search subgraph p50 ${subgraphWindow.latencyMs.p50} ms p99 ${subgraphWindow.latencyMs.p99} ms; ` +
              `Elasticsearch direct p50 ${esWindow.latencyMs.p50} ms p99 ${esWindow.latencyMs.p99} ms, took p50 ${esWindow.values?.p50} ms p99 ${esWindow.values?.p99} ms`,
          );
        }
      } finally {
        subgraph.close();
      }
    }

    if (options.figures.includes('freshness') && !signal.aborted) {
      const login = await router.post(operation('Login'), { input: { email: staff.email, password: staff.password } });
      const staffToken = login.data?.['login']?.accessToken as string | undefined;
      if (!staffToken) throw new Error(`staff login failed: ${JSON.stringify(login.errors ?? login.data)}`);
      const catalog = graphqlClient(stack.subgraphUrls['catalog']!, { maxSockets: 512, timeoutMs: 10_000 });
      try {
        results.freshness = [];
        // Not measured: Elasticsearch's JIT for partial updates (a get, a merge, a reindex of the
        // document), which building the index does not warm. `node bench/search/update-cost.ts`: 500
        // changes/s cost it ~1.9 ms each for the first 20 s, ~1 ms in the next, ~0.5 ms from the third.
        const warmupRate = Math.max(...options.feedRates, ...options.changeRates);
        log(`freshness warm-up: updateProducts of ${options.feedBatch} changes at ${warmupRate} changes/s for ${options.feedWarmupS} s, not measured`);
        await measureFreshness({ catalog, staffToken, es, alias, products: shop.products, currency: CURRENCY, rate: warmupRate, batch: options.feedBatch, seconds: options.feedWarmupS, maxInFlight: 128, signal, seed: 4 });
        const windows = [...options.changeRates.map((rate) => ({ rate, batch: 1 })), ...options.feedRates.map((rate) => ({ rate, batch: options.feedBatch }))];
        for (const [i, { rate, batch }] of windows.entries()) {
          if (signal.aborted) break;
          await settle();
          log(`freshness: ${changesBy(batch)} at ${rate} changes/s for ${options.seconds} s against catalog, polling the index every ${POLL_EVERY_MS} ms`);
          const [esBefore, searchBefore] = await Promise.all([elasticsearchWork(es), scrapeMetrics(stack.subgraphUrls['search']!)]);
          const measured = await window(() => measureFreshness({ catalog, staffToken, es, alias, products: shop.products, currency: CURRENCY, rate, batch, seconds: options.seconds, maxInFlight: 128, signal, seed: 5 + i }));
          const [esAfter, searchAfter] = await Promise.all([elasticsearchWork(es), scrapeMetrics(stack.subgraphUrls['search']!)]);
          const f = { ...measured, elasticsearch: workBetween(esBefore, esAfter), indexed: indexedAfter(searchBefore, searchAfter) };
          results.freshness.push(f);
          log(`freshness: ${f.changesAccepted} changes (${f.achievedPerS}/s); answer→searchable p50 ${f.answerToSearchableMs.p50} ms p99 ${f.answerToSearchableMs.p99} ms; not searchable ${f.notSearchable}; failed ${JSON.stringify(f.mutationFailed)}, skipped ${f.skipped}`);
        }
      } finally {
        catalog.close();
      }
    }

    if (options.figures.includes('reindex') && !signal.aborted) {
      await settle();
      log(`reindex under load: searches at ${options.reindexRate}/s through the router from 2 s before to 2 s after`);
      const over = new AbortController();
      const measured = await window(async () => {
        const searching = openLoop({ rate: options.reindexRate, until: over.signal, maxInFlight: 256, signal, send: routerSearch(router, nounSearches(shop.products, 1_000), true) });
        await sleep(2_000, signal);
        const result = await reindex('search-reindex-under-load');
        await sleep(2_000, signal);
        over.abort();
        return { reindex: result, searches: summarize(await searching) };
      });
      results.reindex = measured;
      log(`reindex: ${measured.reindex.products} products in ${measured.reindex.seconds} s (swap after ${measured.reindex.swapAfterS} s; exit ${measured.reindex.exitCode}); searches ${measured.searches.sent}, failed ${JSON.stringify(measured.searches.failed)}, p99 ${measured.searches.latencyMs.p99} ms`);
    }

    if (options.figures.includes('cart') && !signal.aborted) {
      await settle();
      const owners = await seedCarts(stack.databaseUrls['cart']!, shop.products.map((p) => p.id), options.customers, options.lines);
      log(`cart: ${owners.length} carts of ${options.lines} lines seeded`);
      results.cart = await benchCart({
        stack,
        root: join(import.meta.dirname, '..'),
        serviceEnv,
        owners,
        linesPerCart: options.lines,
        rounds: options.cartRounds,
        seconds: options.cartSeconds,
        concurrency: options.cartConcurrency,
        rate: options.cartRate,
        dbPrefix: `${DB_PREFIX}_`,
        signal,
        log,
      });
    }
  } finally {
    router.close();
    // The node keeps its data between runs: the run's indices go.
    await dropIndices(es, serviceEnv.ELASTICSEARCH_INDEX_PREFIX).catch((error: unknown) => log(`dropping the run's indices failed: ${String(error)}`));
    es.close();
  }
}

function changesBy(batch: number): string {
  return batch === 1 ? 'one updateProduct per change' : `updateProducts of ${batch} changes`;
}

function table(r: typeof report): string {
  const out: string[] = [];
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const ms = (d: { p50: number; p99: number }) => `p50 ${d.p50} ms, p99 ${d.p99} ms`;
  const cpuLine = (cpu: CpuUsage) =>
    `machine busy ${cpu.machineBusyPct} % (others ${cpu.otherPct} % of a core); ${Object.entries(cpu.byLabel).filter(([, pct]) => pct >= 3).map(([label, pct]) => `${label} ${pct} %`).join(', ')}`;
  const round1 = (n: number) => Math.round(n * 10) / 10;
  // % of a core over the window → ms of CPU per request sent; the processes above 0.2 ms.
  const perRequest = (cpu: CpuUsage, rate: number) =>
    `${Object.entries(cpu.byLabel).map(([label, pct]) => [label.replace(/ \(.*\)$/, ''), (pct * 10) / rate] as const).filter(([, ms]) => ms >= 0.2).map(([label, ms]) => `${label} ${ms.toFixed(1)}`).join(', ')} (${cpu.machineBusyPct} %; ${cpu.otherPct} %)`;
  const failed = (w: WindowSummary) => Object.values(w.failed).reduce((s, n) => s + n, 0) + w.skipped;
  out.push('', `Search benchmark — ${r.machine.nproc} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load average ${r.loadAverage.start} → ${r.loadAverage.end}`);
  if (r.build) {
    out.push(`  ${r.options.products} products seeded by SQL in ${r.seedSeconds} s; index built by npm run search:reindex in ${r.build.seconds} s (alias swapped after ${r.build.swapAfterS} s, ${r.build.productsPerS} products/s); idle, the stack uses ${r.idleStackPct} % of a core`);
  }
  if (r.search?.length) {
    out.push(
      '',
      `1. Searches over ${r.options.products} products, open loop, ${r.options.seconds} s per window (latency from when each request was due): SearchProducts through the router`,
      `   (as the web client sends it: 20 results with catalog's, inventory's and the categories' fields, and facets), the search subgraph alone, and its Elasticsearch query sent directly`,
      `  ${'rate'.padEnd(7)}${'path'.padEnd(22)}${'p50 / p99'.padEnd(22)}${'failed'.padEnd(8)}CPU-ms per search (machine busy; others, % of a core)`,
    );
    for (const s of r.search) {
      const took = s.elasticsearch.values ?? { p50: Number.NaN, p99: Number.NaN };
      const paths = [
        ['router', s.router, `target p99 ≤ ${TARGETS.searchP99Ms} ms: ${met(s.router.latencyMs.p99 <= TARGETS.searchP99Ms)}`],
        ['search subgraph', s.subgraph, ''],
        ['Elasticsearch', s.elasticsearch, `its took: p50 ${took.p50} ms, p99 ${took.p99} ms`],
      ] as const;
      for (const [i, [path, w, note]] of paths.entries()) {
        out.push(`  ${(i === 0 ? `${s.rate}/s` : '').padEnd(7)}${path.padEnd(22)}${`${w.latencyMs.p50} / ${w.latencyMs.p99} ms`.padEnd(22)}${String(failed(w)).padEnd(8)}${perRequest(w.cpu, w.sent / w.seconds)}${note ? `  — ${note}` : ''}`);
      }
      out.push(`  ${''.padEnd(7)}router − Elasticsearch: p50 +${round1(s.router.latencyMs.p50 - s.elasticsearch.latencyMs.p50)} ms, p99 +${round1(s.router.latencyMs.p99 - s.elasticsearch.latencyMs.p99)} ms; subgraph − Elasticsearch: p50 +${round1(s.subgraph.latencyMs.p50 - s.elasticsearch.latencyMs.p50)} ms, p99 +${round1(s.subgraph.latencyMs.p99 - s.elasticsearch.latencyMs.p99)} ms`);
    }
  }
  for (const f of r.freshness ?? []) {
    out.push(
      '',
      `2. Product change → searchable: ${changesBy(f.batch)} (name and price) against catalog at ${f.rate} changes/s for ${f.seconds} s (at most 128 mutations waiting); the index polled every ${POLL_EVERY_MS} ms`,
      `  ${f.changesAccepted} of ${f.changesSent} changes accepted (${f.achievedPerS}/s; mutations not sent, catalog behind: ${f.skipped}; failed ${JSON.stringify(f.mutationFailed)}); each mutation ${ms(f.mutationMs)}`,
      `  answer → searchable ${ms(f.answerToSearchableMs)}, max ${f.answerToSearchableMs.max} ms; never searchable: ${f.notSearchable} — target p99 ≤ ${TARGETS.searchableP99Ms} ms: ${met(f.answerToSearchableMs.p99 <= TARGETS.searchableP99Ms && f.notSearchable === 0)}`,
      `  of which catalog's commit → indexed (search.index's event age, by its histogram's buckets): p50 ≤ ${f.indexed.p50Ms} ms, p99 ≤ ${f.indexed.p99Ms} ms of ${f.indexed.events} events; the rest is the index's refresh and the poll`,
      `  poll ${ms(f.pollMs)}; CPU-ms per change: ${perRequest(f.cpu, f.achievedPerS)}`,
      `  Elasticsearch's own time in the window (ms, all threads): indexing ${f.elasticsearch.indexing} (${f.elasticsearch.indexed} documents), gets ${f.elasticsearch.gets}, searches ${f.elasticsearch.searches}, refreshes ${f.elasticsearch.refreshes} (${f.elasticsearch.refreshCount}; external ${f.elasticsearch.externalRefreshes} ms), merges ${f.elasticsearch.merges} (${f.elasticsearch.mergeCount}), flushes ${f.elasticsearch.flushes}`,
    );
  }
  if (r.reindex) {
    const { reindex, searches, cpu } = r.reindex;
    const failedSearches = failed(searches);
    out.push(
      '',
      `3. Full reindex of ${reindex.products} products (npm run search:reindex) with searches at ${r.options.reindexRate}/s through the router throughout`,
      `  ${reindex.seconds} s to exit (alias swapped after ${reindex.swapAfterS} s; ${reindex.productsPerS} products/s; exit code ${reindex.exitCode})`,
      `  searches ${searches.sent}: failed or empty ${failedSearches} ${JSON.stringify(searches.failed)} — target ${TARGETS.failedDuringReindex}: ${met(failedSearches === TARGETS.failedDuringReindex)}; latency ${ms(searches.latencyMs)}, max ${searches.latencyMs.max} ms`,
      `  ${cpuLine(cpu)}`,
    );
  }
  if (r.cart) {
    const c = r.cart;
    out.push(
      '',
      `4. Cart reads directly against cart (${c.customers} carts of ${c.linesPerCart} lines): Redis cache vs none (a second cart process, REDIS_URL empty); medians of ${r.options.cartRounds} rounds, alternating which goes first`,
      `  ${''.padEnd(10)}${`reads/s at C=${c.concurrency}`.padEnd(18)}${'p50 / p99'.padEnd(20)}${`p50 / p99 at ${c.rate}/s`.padEnd(24)}CPU-ms per read (cart)`,
    );
    for (const variant of ['cached', 'uncached'] as const) {
      const m = c.median[variant];
      out.push(`  ${variant.padEnd(10)}${String(m.requestsPerS).padEnd(18)}${`${m.p50Ms} / ${m.p99Ms} ms`.padEnd(20)}${`${m.fixedRateP50Ms} / ${m.fixedRateP99Ms} ms`.padEnd(24)}${m.cartCpuMsPerRequest}`);
    }
    out.push(`  cached / uncached (median of the rounds' ratios): throughput ${c.ratio.throughput}×, p50 at ${c.rate}/s ${c.ratio.fixedRateP50}×, p99 ${c.ratio.fixedRateP99}×, CPU per read ${c.ratio.cpuPerRequest}×`);
    for (const w of c.windows) {
      out.push(`  round ${w.round} ${w.variant.padEnd(9)} ${w.throughput.achievedPerS} reads/s, at ${c.rate}/s ${ms(w.fixedRate.latencyMs)}, failed ${failed(w.throughput) + failed(w.fixedRate)}; ${cpuLine(w.cpu)}`);
    }
  }
  return out.join('\n');
}
