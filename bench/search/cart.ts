// Figure 4: cart reads with the Redis cache and without, in one run. The stack's cart subgraph
// has REDIS_URL set; a second cart process on the same database runs with REDIS_URL empty (no
// cache). Both are asked directly (the router knows only the first), alternately, the same
// customers' carts: a closed loop for throughput, then a fixed rate for latency.
import { freePort } from '@shopgraph/infra';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Stack } from '../../scripts/stack.ts';
import { cpuMs, startPinned, stop, waitUntil, type Proc } from '../lib/procs.ts';
import { median } from '../lib/stats.ts';
import { cpuBetween, sampleCpu, type CpuUsage } from '../saga/cpu.ts';
import { graphqlClient } from '../saga/http.ts';
import { customerTokens } from '../saga/saga-load.ts';
import { round } from '../saga/stats.ts';
import { closedLoop, openLoop, type Outcome } from './load.ts';
import { problemOf, summarize, type WindowSummary } from './searches.ts';

/** The cart subgraph's own selection (no other subgraph's fields: the router is not in the path). */
const CART_QUERY = 'query BenchCart { cart { id lines { id quantity product { id } } } }';

export type CartVariant = 'cached' | 'uncached';

export interface CartWindow {
  variant: CartVariant;
  round: number;
  throughput: WindowSummary;
  /** CPU of the cart process per request in the closed-loop window. */
  cartCpuMsPerRequest: number;
  fixedRate: WindowSummary;
  cpu: CpuUsage;
}

export interface CartResult {
  customers: number;
  linesPerCart: number;
  concurrency: number;
  rate: number;
  seconds: number;
  windows: CartWindow[];
  /** Medians over the rounds, per variant. */
  median: Record<CartVariant, { requestsPerS: number; p50Ms: number; p99Ms: number; fixedRateP50Ms: number; fixedRateP99Ms: number; cartCpuMsPerRequest: number }>;
  /** cached / uncached: the median of the rounds' ratios. */
  ratio: { throughput: number; fixedRateP50: number; fixedRateP99: number; cpuPerRequest: number };
}

/** The pid of the stack's cart subgraph: our child running subgraphs/cart, other than `except`. */
function stackCartPid(except: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === except) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('subgraphs/cart/src/index.ts')) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error("the stack's cart process was not found");
}

export async function benchCart(options: {
  stack: Stack;
  root: string;
  /** The env every service of the stack got (KAFKA_TOPIC_PREFIX, REDIS_KEY_PREFIX…), for the second cart. */
  serviceEnv: Record<string, string>;
  owners: readonly string[];
  linesPerCart: number;
  rounds: number;
  seconds: number;
  concurrency: number;
  rate: number;
  dbPrefix: string;
  signal: AbortSignal;
  log: (message: string) => void;
}): Promise<CartResult> {
  const { stack, owners, signal, log } = options;
  const sign = await customerTokens(stack);
  const tokens = await Promise.all(owners.map((owner) => sign(owner)));
  const port = await freePort();
  const issuer = new URL(stack.subgraphUrls['accounts']!).origin;
  // As scripts/stack.ts starts a subgraph, but without Redis.
  const env = {
    ...process.env,
    ...Object.fromEntries(Object.entries(stack.subgraphUrls).map(([name, url]) => [`SUBGRAPH_${name.toUpperCase()}_URL`, url])),
    KAFKA_BROKERS: stack.kafkaBrokers.join(','),
    ELASTICSEARCH_URL: stack.elasticsearchUrl,
    JWT_ISSUER: issuer,
    JWT_JWKS_URL: `${issuer}/.well-known/jwks.json`,
    ...options.serviceEnv,
    DATABASE_URL: stack.databaseUrls['cart']!,
    REDIS_URL: '',
    PORT: String(port),
  };
  let uncached: Proc | undefined;
  const clients = {
    cached: graphqlClient(stack.subgraphUrls['cart']!, { maxSockets: 256, timeoutMs: 10_000 }),
    uncached: graphqlClient(`http://127.0.0.1:${port}/graphql`, { maxSockets: 256, timeoutMs: 10_000 }),
  };
  try {
    log(`cart: a second cart process without Redis on port ${port}`);
    uncached = startPinned(null, [process.execPath, join(options.root, 'subgraphs/cart/src/index.ts')], env, join(stack.logs, 'cart-uncached.log'), options.root);
    await waitUntil(uncached, 'cart (no cache)', async () => (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).ok);
    const pids: Record<CartVariant, number> = { cached: stackCartPid(uncached.pid), uncached: uncached.pid };

    const read = (variant: CartVariant) => async (i: number): Promise<Outcome> => {
      const result = await clients[variant].post(CART_QUERY, {}, tokens[i % tokens.length]);
      const problem = problemOf(result);
      if (problem) return { ok: false, error: problem };
      const lines = result.data?.['cart']?.lines as unknown[] | undefined;
      if (lines?.length !== options.linesPerCart) return { ok: false, error: `${lines?.length ?? 'no'} lines` };
      return { ok: true };
    };
    // Every cart read once by each: the cached one has them all in Redis from then on (TTL 300 s), and both are warm.
    for (const variant of ['cached', 'uncached'] as const) {
      let next = 0;
      const failed: string[] = [];
      const reader = async () => {
        while (next < owners.length && !signal.aborted) {
          const outcome = await read(variant)(next++).catch((error: unknown) => ({ ok: false, error: String(error) }));
          if (!outcome.ok) failed.push(outcome.error ?? 'failed');
        }
      };
      await Promise.all(Array.from({ length: 16 }, reader));
      if (failed.length) throw new Error(`cart (${variant}): ${failed.length} of ${owners.length} warm-up reads failed, e.g. ${failed[0]}`);
      await closedLoop({ concurrency: options.concurrency, seconds: 5, signal, send: read(variant) });
    }

    const windows: CartWindow[] = [];
    for (let round_ = 1; round_ <= options.rounds && !signal.aborted; round_++) {
      const order: CartVariant[] = round_ % 2 ? ['cached', 'uncached'] : ['uncached', 'cached'];
      for (const variant of order) {
        if (signal.aborted) break;
        const cpuStart = sampleCpu(options.dbPrefix);
        const cartStart = cpuMs(pids[variant]);
        const throughput = await closedLoop({ concurrency: options.concurrency, seconds: options.seconds, signal, send: read(variant) });
        const cartCpu = cpuMs(pids[variant]) - cartStart;
        const cpu = cpuBetween(cpuStart, sampleCpu(options.dbPrefix));
        const fixedRate = await openLoop({ rate: options.rate, seconds: options.seconds, maxInFlight: 256, signal, send: read(variant) });
        const window: CartWindow = {
          variant,
          round: round_,
          throughput: summarize(throughput),
          cartCpuMsPerRequest: round(cartCpu / Math.max(1, throughput.samples.length), 2),
          fixedRate: summarize(fixedRate),
          cpu,
        };
        windows.push(window);
        log(
          `cart ${variant} (round ${round_}): ${window.throughput.achievedPerS} reads/s at C=${options.concurrency} (p50 ${window.throughput.latencyMs.p50} ms, p99 ${window.throughput.latencyMs.p99} ms, ` +
            `${window.cartCpuMsPerRequest} CPU-ms/read in cart); at ${options.rate}/s p50 ${window.fixedRate.latencyMs.p50} ms, p99 ${window.fixedRate.latencyMs.p99} ms; failed ${JSON.stringify(window.throughput.failed)} ${JSON.stringify(window.fixedRate.failed)}`,
        );
      }
    }
    const medianOf = (variant: CartVariant) => {
      const mine = windows.filter((w) => w.variant === variant);
      const m = (pick: (w: CartWindow) => number) => round(median(mine.map(pick)), 2);
      return {
        requestsPerS: m((w) => w.throughput.achievedPerS),
        p50Ms: m((w) => w.throughput.latencyMs.p50),
        p99Ms: m((w) => w.throughput.latencyMs.p99),
        fixedRateP50Ms: m((w) => w.fixedRate.latencyMs.p50),
        fixedRateP99Ms: m((w) => w.fixedRate.latencyMs.p99),
        cartCpuMsPerRequest: m((w) => w.cartCpuMsPerRequest),
      };
    };
    const medians = { cached: medianOf('cached'), uncached: medianOf('uncached') };
    const ratio = (pick: (w: CartWindow) => number) => {
      const perRound = Array.from(new Set(windows.map((w) => w.round)), (r) => windows.filter((w) => w.round === r)).filter((pair) => pair.length === 2);
      return round(median(perRound.map((pair) => pick(pair.find((w) => w.variant === 'cached')!) / pick(pair.find((w) => w.variant === 'uncached')!))), 2);
    };
    return {
      customers: owners.length,
      linesPerCart: options.linesPerCart,
      concurrency: options.concurrency,
      rate: options.rate,
      seconds: options.seconds,
      windows,
      median: medians,
      ratio: {
        throughput: ratio((w) => w.throughput.achievedPerS),
        fixedRateP50: ratio((w) => w.fixedRate.latencyMs.p50),
        fixedRateP99: ratio((w) => w.fixedRate.latencyMs.p99),
        cpuPerRequest: ratio((w) => w.cartCpuMsPerRequest),
      },
    };
  } finally {
    clients.cached.close();
    clients.uncached.close();
    if (uncached) await stop(uncached);
  }
}
