// `npm run bench:subscriptions`: live order tracking through our router, next to a plain graphql-ws
// server broadcasting the same events, measured in the same run (BENCHMARKS.md, "Subscriptions").
//
// Processes, placed alike in every setup (taskset when present): the event source and the server
// measured on the "server core", the clients alone on the other:
//   source    order status changes from a generator (bench/subscriptions/source.ts), served as the
//             graphql-ws and the kit baselines (below) and as a canned orders subgraph for the router
//             (precomputed answers: like bench:router's subgraphs, never the bottleneck)
//   router    our router (bench/router/gateways/router.ts: production config, JWTs verified against
//             the issuer's JWKS), its orders subgraph being the canned source
//   clients   every subscriber on a WebSocket of its own, each with its own user's token and order,
//             spread over --client-processes processes (2), so one's GC pause delays only its share
//
// Setups, in turn each round: "graphql-ws" — the plain graphql-ws server the router is measured
// against: the orders schema on graphql-ws's own `useServer` with graphql-js, as graphql-ws documents
// it; "kit" — the same schema served by the kit, as every subgraph serves it (graphql-js executes
// every event for every subscriber; results pushed to the socket); "router" — clients subscribe
// through the router over graphql-ws, which multiplexes them over one connection to the canned
// source; "router-multipart" and "router-sse" — the same through the router's HTTP transports (one
// streaming request per subscriber: Apollo's multipart protocol, graphql-sse). For each,
// memory per subscription of the server process (RSS and V8 heap growth from no connections to N
// idle subscriptions, and from N/2 to N, each read after a memory-reducing full
// GC: see bench/subscriptions/probes.ts), then at each rate: deliveries/s and event→client latency
// (the event's `at`, set when the source emits it, to the moment the client has parsed it), and the
// server's CPU.
//
//   npm run bench:subscriptions [-- --subscriptions 10000 --rates 5000,10000,20000 --seconds 30 --rounds 2 --client-processes 2]
//   npm run bench:subscriptions -- --quick   (1,000 subscriptions, rates 1000,5000, 4 s, 1 round: a smoke run)
//   --router-flags="--cpu-prof --cpu-prof-dir=…"   extra node flags for the router (experiments, profiles)
//   --source-flags="--trace-gc"                    extra node flags for the source (it serves the baselines)
//   --setups router,router-sse                      only some of the setups (default: router,router-multipart,router-sse,graphql-ws,kit)
// Prints a table; writes bench/results/subscriptions-<timestamp>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '@shopgraph/infra';
import { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER } from '@shopgraph/testkit/issuer';
import { ROUTER_NODE_FLAGS } from '../router/src/node-flags.ts';
import { cpuMs, hasTaskset, rssMb } from './lib/procs.ts';
import { median, percentile, round } from './lib/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    subscriptions: { type: 'string' },
    rates: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    'router-flags': { type: 'string', default: '' },
    'source-flags': { type: 'string', default: '' },
    'client-processes': { type: 'string', default: '2' },
    setups: { type: 'string', default: 'router,router-multipart,router-sse,graphql-ws,kit' },
  },
});
const quick = args.quick;
const opts = {
  subscriptions: Number(args.subscriptions ?? (quick ? 1_000 : 10_000)),
  rates: (args.rates ?? (quick ? '1000,5000' : '5000,10000,20000')).split(',').map(Number),
  // 30 s: long enough to hold each server's full-GC cycle, whose pause sets the p99 (in 10 s it
  // fell in some windows and not others, and the p99 swung with it).
  seconds: Number(args.seconds ?? (quick ? 4 : 30)),
  rounds: Number(args.rounds ?? (quick ? 1 : 2)),
};
const allSetups = ['router', 'router-multipart', 'router-sse', 'graphql-ws', 'kit'] as const;
/** How each setup's clients subscribe. */
const transportOf = { router: 'ws', 'router-multipart': 'multipart', 'router-sse': 'sse', 'graphql-ws': 'ws', kit: 'ws' } as const;
const unknownSetups = args.setups!.split(',').filter((name) => !(allSetups as readonly string[]).includes(name));
if (unknownSetups.length) throw new Error(`--setups: unknown ${unknownSetups.join(', ')} (known: ${allSetups.join(', ')})`);
const setups = allSetups.filter((setup) => args.setups!.split(',').includes(setup));
const QUERY = 'subscription Track($orderId: ID!) { orderStatusChanged(orderId: $orderId) { version status at } }';
const SERVER_CORE = 1;
const LOAD_CORE = 0;
const pin = hasTaskset() && availableParallelism() >= 2;

/** A child process spoken to over IPC: `ask` sends a message and resolves with the next reply of `type`. */
interface Child {
  proc: ChildProcess;
  pid: number;
  ask<T>(message: object, type: string, timeoutMs?: number): Promise<T>;
}

/** Starts `file`; resolves with its first message (`waitForReady`), else at once. What it prints goes to our stderr. */
function start<Ready = unknown>(file: string, env: NodeJS.ProcessEnv, core: number | null, waitForReady = true, flags: string[] = []): Promise<{ child: Child; ready: Ready }> {
  const command = [process.execPath, '--expose-gc', ...flags, file];
  const [bin, ...rest] = core === null || !pin ? command : ['taskset', '-c', String(core), ...command];
  const proc = spawn(bin!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 2, 'inherit', 'ipc'] });
  const child: Child = {
    proc,
    pid: proc.pid!,
    ask: (message, type, timeoutMs = 600_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} from ${file} within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (reply: { type: string }) => {
        if (reply.type !== type) return;
        clearTimeout(timer);
        proc.off('message', onMessage);
        resolve(reply as never);
      };
      proc.on('message', onMessage);
      proc.send(message);
    }),
  };
  if (!waitForReady) return Promise.resolve({ child, ready: undefined as Ready });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${file} exited (${code}) during start-up`)));
    proc.once('message', (ready: Ready) => resolve({ child, ready }));
  });
}

// Tokens: one user per subscriber, valid for the whole run.
const issuer = await createTestIssuer(6 * 3600);
const subscribers: { token: string; orderId: string }[] = [];
for (let i = 0; i < opts.subscriptions; i += 500) {
  subscribers.push(...(await Promise.all(Array.from({ length: Math.min(500, opts.subscriptions - i) }, async () => ({ token: await issuer.customer(), orderId: crypto.randomUUID() })))));
}
const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
const workDir = join(root, '.data', 'bench-subscriptions', stamp);
mkdirSync(workDir, { recursive: true });
const jwksFile = join(workDir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify(issuer.jwks));

const { child: source, ready: { kit: kitUrl, graphqlWs: graphqlWsUrl, canned: cannedUrl } } = await start<{ kit: string; graphqlWs: string; canned: string }>(
  join(here, 'subscriptions', 'source.ts'), { JWKS_FILE: jwksFile }, SERVER_CORE, true, args['source-flags']!.split(' ').filter(Boolean));
const sourceBase = new URL(kitUrl).origin;
const routerPort = await freePort();
const { child: router } = await start(join(here, 'subscriptions', 'router.ts'), {
  NODE_ENV: 'production', LOG_LEVEL: 'warn', PORT: String(routerPort), HOST: '127.0.0.1', WEB_ROOT: '',
  SUPERGRAPH_PATH: join(root, 'supergraph.graphql'), SUBGRAPH_ORDERS_URL: cannedUrl,
  JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE, JWT_JWKS_URL: `${sourceBase}/.well-known/jwks.json`,
}, SERVER_CORE, false, [...ROUTER_NODE_FLAGS, ...args['router-flags']!.split(' ').filter(Boolean)]);
const routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
for (let i = 0; ; i++) {
  if ((await fetch(`http://127.0.0.1:${routerPort}/healthz`).then((r) => r.ok).catch(() => false))) break;
  if (i > 300 || router.proc.exitCode !== null) throw new Error('the router did not start');
  await sleep(100);
}
const clientProcesses = await Promise.all(Array.from({ length: Number(args['client-processes']) }, async () => (await start(join(here, 'subscriptions', 'clients.ts'), {}, LOAD_CORE)).child));
interface ClientReport { received: number; latencies: number[]; errors: number; clientLoopDelayMaxMs: number }
/** The client processes as one: subscribers dealt out in turn, answers merged. */
const clients = {
  async connect(url: string, transport: 'ws' | 'multipart' | 'sse', batch: typeof subscribers): Promise<{ ms: number; refused: number }> {
    const answers = await Promise.all(clientProcesses.map((child, i) => child.ask<{ ms: number; refused: number }>({
      type: 'connect', url, query: QUERY, transport, subscribers: batch.filter((_, j) => j % clientProcesses.length === i),
    }, 'connected')));
    return { ms: Math.max(...answers.map((a) => a.ms)), refused: answers.reduce((n, a) => n + a.refused, 0) };
  },
  async window(): Promise<void> {
    await Promise.all(clientProcesses.map((child) => child.ask({ type: 'window' }, 'windowed')));
  },
  async report(): Promise<ClientReport> {
    const reports = await Promise.all(clientProcesses.map((child) => child.ask<ClientReport>({ type: 'report' }, 'report')));
    return {
      received: reports.reduce((n, r) => n + r.received, 0),
      latencies: reports.flatMap((r) => r.latencies),
      errors: reports.reduce((n, r) => n + r.errors, 0),
      clientLoopDelayMaxMs: Math.max(...reports.map((r) => r.clientLoopDelayMaxMs)),
    };
  },
  async close(): Promise<void> {
    await Promise.all(clientProcesses.map((child) => child.ask({ type: 'close' }, 'closed')));
  },
};

const watchers = async () => (await source.ask<{ watchers: number }>({ type: 'stats' }, 'stats')).watchers;
async function untilWatchers(count: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await watchers()) !== count) {
    if (Date.now() > deadline) throw new Error(`the source has ${await watchers()} subscriptions, expected ${count}`);
    await sleep(200);
  }
}

interface RateResult { rate: number; emitted: number; received: number; errors: number; deliveriesPerSecond: number; p50: number; p99: number; max: number; serverCpuPercent: number; clientStallMs: number; serverStallMs: number; sourceCpuPercent: number }
type Setup = (typeof allSetups)[number];
interface SetupResult { setup: Setup; round: number; connectMs: number; refused: number; kbPerSubscription: number; kbBeforeCollection: number; heapKbPerSubscription: number; kbPerAddedSubscription: number; heapKbPerAddedSubscription: number; rates: RateResult[]; load1: number }

async function measure(setup: Setup, roundNo: number): Promise<SetupResult> {
  // The event source shares the server core with the server measured (in the baselines it is that
  // server), so the clients' core does the same work in every setup.
  const server = setup.startsWith('router') ? router : source;
  // The previous setup's sockets finish closing before the baseline reading.
  await sleep(2_000);
  /** Heap and RSS in MB, after a memory-reducing full GC. */
  const readMemory = async () => ({ heap: (await server.ask<{ heapUsed: number }>({ type: 'gc' }, 'gc')).heapUsed / 2 ** 20, rss: rssMb(server.pid) });
  const before = await readMemory();
  // In two halves: the second half's growth is the cost of one more subscription, without what the
  // process takes on once whatever the count (a young generation grown to its maximum by the burst, JIT code).
  const half = Math.floor(opts.subscriptions / 2);
  let ms = 0;
  let refused = 0;
  let uncollected = 0;
  const readings: { heap: number; rss: number }[] = [];
  for (const batch of [subscribers.slice(0, half), subscribers.slice(half)]) {
    const connected = await clients.connect(setup.startsWith('router') ? routerUrl : { 'graphql-ws': graphqlWsUrl, kit: kitUrl }[setup as 'graphql-ws' | 'kit'], transportOf[setup], batch);
    ms += connected.ms;
    refused += connected.refused;
    await untilWatchers(half + (readings.length ? batch.length : 0) - refused);
    await sleep(2_000);
    uncollected = rssMb(server.pid);
    readings.push(await readMemory());
  }
  const [middle, after] = readings as [typeof before, typeof before];
  const kb = (mb: number, count = opts.subscriptions) => round((mb * 1024) / count, 1);

  // Warm-up (JIT, buffers), not reported.
  await source.ask({ type: 'emit', rate: opts.rates[0], seconds: 2 }, 'emitted');
  await sleep(1_000);
  const rates: RateResult[] = [];
  for (const rate of opts.rates) {
    await clients.window();
    await server.ask({ type: 'loop' }, 'loop');
    const cpu0 = { server: cpuMs(server.pid), source: cpuMs(source.pid) };
    const started = performance.now();
    const { count: emitted } = await source.ask<{ count: number }>({ type: 'emit', rate, seconds: opts.seconds }, 'emitted');
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = { server: cpuMs(server.pid), source: cpuMs(source.pid) };
    // Whatever is still in flight arrives (or is counted lost) within 2 s.
    await sleep(2_000);
    const { maxMs: serverStallMs } = await server.ask<{ maxMs: number }>({ type: 'loop' }, 'loop');
    const report = await clients.report();
    rates.push({
      rate, emitted, received: report.received, errors: report.errors,
      deliveriesPerSecond: Math.round(report.received / seconds),
      p50: percentile(report.latencies, 50), p99: percentile(report.latencies, 99), max: percentile(report.latencies, 100),
      serverCpuPercent: Math.round(((cpu1.server - cpu0.server) / (seconds * 1000)) * 100),
      clientStallMs: report.clientLoopDelayMaxMs,
      serverStallMs,
      sourceCpuPercent: Math.round(((cpu1.source - cpu0.source) / (seconds * 1000)) * 100),
    });
    console.log(`  ${setup} round ${roundNo} @ ${rate}/s: ${JSON.stringify(rates.at(-1))}`);
  }
  await clients.close();
  await untilWatchers(0);
  return { setup, round: roundNo, connectMs: Math.round(ms), refused, kbPerSubscription: kb(after.rss - before.rss), kbBeforeCollection: kb(uncollected - before.rss), heapKbPerSubscription: kb(after.heap - before.heap),
    kbPerAddedSubscription: kb(after.rss - middle.rss, opts.subscriptions - half), heapKbPerAddedSubscription: kb(after.heap - middle.heap, opts.subscriptions - half), rates, load1: round(loadavg()[0]!, 2) };
}

// The router's setups between the baselines, and the order reversed every other round.
const roundOrder = (['kit', 'router', 'router-multipart', 'router-sse', 'graphql-ws'] as const).filter((setup) => setups.includes(setup));
const results: SetupResult[] = [];
try {
  for (let roundNo = 1; roundNo <= opts.rounds; roundNo++) {
    for (const setup of roundNo % 2 ? roundOrder : roundOrder.toReversed()) {
      console.log(`round ${roundNo}: ${setup}, ${opts.subscriptions} subscriptions…`);
      results.push(await measure(setup, roundNo));
    }
  }
} finally {
  router.proc.kill('SIGTERM');
  source.proc.kill('SIGTERM');
  for (const child of clientProcesses) child.proc.kill('SIGTERM');
}

const of = (setup: Setup) => results.filter((r) => r.setup === setup);
const med = (setup: Setup, pick: (r: SetupResult) => number) => median(of(setup).map(pick));
const atRate = (setup: Setup, rate: number, pick: (r: RateResult) => number) => median(of(setup).map((r) => pick(r.rates.find((x) => x.rate === rate)!)));
/** Every round's value, in round order. */
const range = (setup: Setup, rate: number, pick: (r: RateResult) => number) => of(setup).map((r) => pick(r.rates.find((x) => x.rate === rate)!)).join(' / ');
console.log(`\n${opts.subscriptions} subscriptions, ${opts.rounds} round(s), medians; load average at the end ${round(loadavg()[0]!, 2)}`);
// RSS from the first round: later rounds reuse memory the process kept from earlier ones and read lower.
console.log('memory per subscription, after a memory-reducing GC: RSS growth in the first round (before that GC), from zero and per added one (the growth from N/2 to N); V8 heap growth (median), from zero and per added one');
for (const setup of setups) {
  const first = of(setup)[0]!;
  console.log(`  ${setup}: RSS ${first.kbPerSubscription} KB (${first.kbBeforeCollection}) / ${first.kbPerAddedSubscription} KB; heap ${med(setup, (r) => r.heapKbPerSubscription)} / ${med(setup, (r) => r.heapKbPerAddedSubscription)} KB${setup === 'graphql-ws' ? ' (RSS read in the source process after the kit\'s round)' : ''}`);
}
console.log(`connect + subscribe all: ${setups.map((setup) => `${setup} ${med(setup, (r) => r.connectMs)} ms`).join(', ')}`);
console.log('\n| rate /s | setup | deliveries/s | lost | p50 ms | p99 ms (each round) | max ms | server CPU % | longest stall ms, server / clients (each round) | p99 router/graphql-ws, router/kit |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const rate of opts.rates) {
  for (const setup of setups) {
    const p99 = atRate(setup, rate, (r) => r.p99);
    const ratio = setup.startsWith('router') ? (['graphql-ws', 'kit'] as const).map((peer) => setups.includes(peer) ? `${round(p99 / atRate(peer, rate, (r) => r.p99), 2)}×` : '–').join(', ') : '';
    console.log(`| ${rate} | ${setup} | ${atRate(setup, rate, (r) => r.deliveriesPerSecond)} | ${atRate(setup, rate, (r) => r.emitted - r.received)} | ${atRate(setup, rate, (r) => r.p50)} | ${p99} (${range(setup, rate, (r) => r.p99)}) | ${atRate(setup, rate, (r) => r.max)} | ${atRate(setup, rate, (r) => r.serverCpuPercent)} | ${range(setup, rate, (r) => r.serverStallMs)}; ${range(setup, rate, (r) => r.clientStallMs)} | ${ratio} |`);
  }
}
const resultsDir = join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `subscriptions-${stamp}.json`);
writeFileSync(file, JSON.stringify({ opts, query: QUERY, pinned: pin, results }, null, 2));
console.log(`\nwrote ${file}`);
process.exit(0);
