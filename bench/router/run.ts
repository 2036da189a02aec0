// `npm run bench:router`: our router against its peers over identical canned subgraphs (BENCHMARKS.md, "Router").
//
// Gateways, one at a time, each one process pinned to the gateway core (taskset -c 1):
//   router     our router (router/src/app.ts createRouterApp, production config, JWTs verified against a test issuer's JWKS)
//   router-usage  the same following a stand-in registry and reporting usage (not by default: --usage)
//   router-traced the same tracing 1 % of operations over OTLP (not by default: --tracing)
//   apollo     stock @apollo/gateway + @apollo/server standalone
//   hive       @graphql-hive/gateway CLI (outgoing request deduplication off)
//   hive-rust  the same with its Rust query planner (@graphql-hive/router-runtime)
//   direct     the subgraph itself, for workloads one subgraph answers (the ceiling)
// This process (load generator) and the canned subgraphs run on the other core (taskset -c 0).
//
// Sequence: tokens → canned subgraphs → supergraphs composed → a check pass (every gateway must
// return the same JSON for every workload; subgraph fetches per request counted) → rounds, in a
// rotating gateway order: warm-up, peak (closed loop), then from round 2 the fixed-rate latency
// run (the rate is half the slowest gateway's round-1 peak), and one last latency-only round.
// Prints a table; writes bench/router/results/<timestamp>.json.
//
// Options: --quick (one round, short windows: a smoke run of about 2 minutes)
//          --rounds 3 --peak 6 --latency 4 (seconds) --connections 50 --tokens 20000
//          --warmup 1.5 --warmup-requests 600 (each load starts with a closed-loop warm-up of at least
//                     this long and this many answers, at most 15 s: the heavy query needs ~7 s to be JIT-warm)
//          --gateways router,apollo,hive,hive-rust,direct --workloads guild-heavy,... (or "all")
//          --usage (the cost of usage reporting: our router with it on and off, `router` and `router-usage`;
//                     prints the ratio of their peaks)
//          --tracing (the cost of tracing at 1 % sampling: `router` and `router-traced`, likewise)
//          --rate guild-heavy=40,shop-one-field=500 (fixed rates instead of derived ones)
//          --router-flags=--max-semi-space-size=64 (extra node flags for our router, space-separated: experiments;
//                     the "=" form, since the value starts with a dash)
//          --max-others 15 --retries 3 (a window in which other processes used more than 15 % of a core
//                     is measured again once the machine is quiet, up to 3 times; --max-others 0: never)
//          --profile (instead: a V8 CPU profile of one gateway under the first of --workloads, summarised;
//                     --profile-seconds 20 --profile-gateway router|apollo|hive|hive-rust)
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { freePort } from '@shopgraph/infra';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Gateway, GatewayId } from './lib/gateways.ts';
import type { Target } from './lib/load.ts';
import type { GraphName, Workload } from './workloads.ts';
import { ROUTER_NODE_FLAGS } from '../../router/src/node-flags.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    'warmup-requests': { type: 'string' },
    peak: { type: 'string' },
    latency: { type: 'string' },
    connections: { type: 'string', default: '50' },
    tokens: { type: 'string', default: '20000' },
    gateways: { type: 'string' },
    workloads: { type: 'string' },
    rate: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'profile-seconds': { type: 'string', default: '20' },
    'profile-gateway': { type: 'string', default: 'router' },
    'router-flags': { type: 'string', default: '' },
    'max-others': { type: 'string', default: '15' },
    usage: { type: 'boolean', default: false },
    tracing: { type: 'boolean', default: false },
    retries: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:router -- [--quick] [--rounds N] [--warmup S] [--peak S] [--latency S] [--connections N] [--tokens N] [--gateways a,b] [--workloads a,b|all] [--rate w=N,...] [--profile [--profile-seconds S]]');
  process.exit(0);
}

// Pin this process (and so autocannon and the canned subgraphs it starts) to the load core.
const LOAD_CORE = 0;
const GATEWAY_CORE = 1;
// (Once pinned, availableParallelism() counts only the load core: the re-executed run trusts its parent.)
const canPin = process.env.BENCH_ROUTER_PINNED === '1' || (spawnSync('taskset', ['-V']).status === 0 && availableParallelism() >= 2);
if (canPin && !process.env.BENCH_ROUTER_PINNED) {
  const run = spawnSync('taskset', ['-c', String(LOAD_CORE), process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_ROUTER_PINNED: '1' },
  });
  process.exit(run.status ?? 1);
}

const { compareAnswers } = await import('./lib/check.ts');
const { gateways } = await import('./lib/gateways.ts');
const { closedLoop, openLoop, TokenPool } = await import('./lib/load.ts');
const { cpuMs, load1, machineBusyMs, rssMb, startPinned, startWithReadyLine, stop, waitUntil } = await import('../lib/procs.ts');
const { summariseProfile } = await import('./lib/profile.ts');
const { median, overlaps, round } = await import('../lib/stats.ts');
const { composeGraph, subgraphPath } = await import('./subgraphs/index.ts');
const { workloads } = await import('./workloads.ts');
const { gatewaySupergraphSdl } = await import('../../router/src/supergraph.ts');
const { parse } = await import('graphql');
const { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER } = await import('@shopgraph/testkit/issuer');

const num = (name: string, value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${value})`);
  return n;
};
const quick = args.quick;
const opts = {
  rounds: num('rounds', args.rounds, quick ? 1 : 3),
  warmup: num('warmup', args.warmup, quick ? 1 : 1.5),
  warmupRequests: num('warmup-requests', args['warmup-requests'], quick ? 300 : 600),
  peak: num('peak', args.peak, quick ? 3 : 6),
  latency: num('latency', args.latency, quick ? 3 : 4),
  connections: num('connections', args.connections, 50),
  tokens: num('tokens', args.tokens, 20_000),
  maxOthers: Number(args['max-others']),
  retries: Number(args.retries),
};
const pick = <T,>(all: T[], list: string | undefined, key: (t: T) => string, what: string, byDefault: (t: T) => boolean = () => true): T[] => {
  if (!list) return all.filter(byDefault);
  if (list === 'all') return all;
  const names = list.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !all.some((t) => key(t) === n));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(', ')} (have ${all.map(key).join(', ')})`);
  return all.filter((t) => names.includes(key(t)));
};
const selectedWorkloads: Workload[] = pick(workloads, args.workloads ?? (quick ? 'guild-heavy,shop-one-field' : undefined), (w) => w.name, 'workload', (w) => w.default);
// A feature's cost: our router with it (the second gateway) against without (the first).
const features = [...(args.usage ? [['usage reporting', 'router-usage']] : []), ...(args.tracing ? [['tracing at 1 %', 'router-traced']] : [])] as [string, GatewayId][];
const selectedGateways: Gateway[] = pick(gateways, args.gateways ?? (features.length ? ['router', ...features.map(([, id]) => id)].join(',') : undefined), (g) => g.id, 'gateway', (g) => g.id !== 'router-usage' && g.id !== 'router-traced');
const fixedRates = new Map<string, number>(
  (args.rate ?? '').split(',').filter(Boolean).map((pair) => {
    const [name, value] = pair.split('=');
    return [name!.trim(), num('rate', value, 0)];
  }),
);

const warm = { seconds: opts.warmup, requests: opts.warmupRequests, maxSeconds: 15 };
const routerFlags = (args['router-flags'] ?? '').split(' ').filter(Boolean);
const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
const resultsDir = join(here, 'results');
const workDir = join(root, '.data', 'bench-router', stamp);
const out = join(resultsDir, `${stamp}.json`);
mkdirSync(resultsDir, { recursive: true });
mkdirSync(workDir, { recursive: true });
const log = (...parts: unknown[]) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...parts);
const began = performance.now();
const loadAtStart = loadavg().map((l) => round(l, 2));

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  pinned: canPin ? { load: LOAD_CORE, gateway: GATEWAY_CORE } : null,
};
if (!canPin) log('WARNING: no taskset or fewer than 2 cores: nothing is pinned, figures are not comparable with pinned runs');
log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.node}; load average ${loadAtStart.join(' / ')}${loadAtStart[0]! >= 1 ? '  (WARNING: ≥ 1; other work on the machine will skew figures)' : ''}`);

// ---- tokens, canned subgraphs, supergraphs -------------------------------------------------------

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
const issuer = await createTestIssuer(6 * 3600);
const tokens: string[] = [];
for (let i = 0; i < opts.tokens; i += 500) tokens.push(...(await Promise.all(Array.from({ length: Math.min(500, opts.tokens - i) }, () => issuer.customer()))));
const pool = new TokenPool(tokens);
const jwksFile = join(workDir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify(issuer.jwks));
log(`${tokens.length} ES256 tokens (a different user each; more than the router's 10,000-entry verified-token cache, so each request is a full verification)`);

const canned = await startWithReadyLine<{ url: string }>(canPin ? LOAD_CORE : null, [process.execPath, join(here, 'canned-server.ts')], { ...baseEnv, PORT: '0', JWKS_FILE: jwksFile });
const cannedUrl = canned.ready.url;
const cleanup: Array<() => Promise<void>> = [() => stop(canned.proc)];
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the gateways and subgraphs; partial results (if any) in ${out}`);
    void Promise.all(cleanup.map((c) => c())).then(() => process.exit(code));
  });
}

const graphNames = [...new Set(selectedWorkloads.map((w) => w.graph))];
const supergraphs = {} as Record<GraphName, { router: string; peer: string }>;
for (const graph of graphNames) {
  const sdl = composeGraph(graph, cannedUrl);
  supergraphs[graph] = { router: join(workDir, `${graph}.graphql`), peer: join(workDir, `${graph}.peer.graphql`) };
  writeFileSync(supergraphs[graph].router, sdl);
  writeFileSync(supergraphs[graph].peer, gatewaySupergraphSdl(parse(sdl)));
}
log(`canned subgraphs at ${cannedUrl}; supergraphs, JWKS and logs in ${workDir}`);

// The stand-in registry `router-usage` follows and reports to (variant = graph name).
const registry = selectedGateways.some((g) => g.id === 'router-usage')
  ? await (await import('./lib/registry-stub.ts')).startRegistryStub((variant) => supergraphs[variant as GraphName].router)
  : undefined;
if (registry) cleanup.push(() => registry.close());

// ---- sessions -------------------------------------------------------------------------------------

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: pool.next() }, body, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text() };
}

type SubgraphStats = Record<string, { requests: number; computed: number; bodies: number }>;
const subgraphStats = async (): Promise<SubgraphStats> => (await (await fetch(`${cannedUrl}/__stats`)).json()) as SubgraphStats;
const statsDelta = (before: SubgraphStats, after: SubgraphStats, key: 'requests' | 'computed') =>
  Object.fromEntries(Object.entries(after).map(([path, s]) => [path, s[key] - before[path]![key]] as const).filter(([, n]) => n > 0));
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

interface Session {
  /** Where each workload of the graph is sent. */
  urlOf: (w: Workload) => string;
  pid: number | null;
}

let sessionCount = 0;
/** Runs `body` with the gateway up for `graph` (fresh process, pinned), then stops it. */
async function withGateway<T>(gw: Gateway, graph: GraphName, body: (s: Session) => Promise<T>, nodeFlags: string[] = []): Promise<T> {
  if (!gw.launch) return body({ urlOf: (w) => `${cannedUrl}${subgraphPath(w.graph, w.direct!)}`, pid: null });
  const port = await freePort();
  const { command, env } = gw.launch({
    port,
    supergraphPath: supergraphs[graph].router,
    peerSupergraphPath: supergraphs[graph].peer,
    cannedUrl,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    nodeFlags: [...nodeFlags, ...(gw.id === 'router' || gw.id === 'router-usage' ? [...ROUTER_NODE_FLAGS, ...routerFlags] : [])],
    graph,
    registryUrl: registry?.url,
  });
  const logFile = join(workDir, `${gw.id}-${graph}.log`);
  const proc = startPinned(canPin ? GATEWAY_CORE : null, command, { ...baseEnv, ...env }, logFile, workDir);
  const kill = () => stop(proc);
  cleanup.push(kill);
  const url = `http://127.0.0.1:${port}/graphql`;
  sessionCount++;
  try {
    await waitUntil(proc, `${gw.label} (${graph})`, async () => (await post(url, '{"query":"{ __typename }"}')).status === 200);
    return await body({ urlOf: () => url, pid: proc.pid });
  } finally {
    await stop(proc);
    cleanup.splice(cleanup.indexOf(kill), 1);
  }
}

const applies = (gw: Gateway, w: Workload) => gw.id !== 'direct' || !!w.direct;
/** The (gateway, graph) sessions with at least one workload to run. */
const sessions = selectedGateways.flatMap((gw) => graphNames.map((graph) => ({ gw, graph, work: selectedWorkloads.filter((w) => w.graph === graph && applies(gw, w)) }))).filter((s) => s.work.length);
/** Rotates the session order by round, so no gateway always runs first (or last). */
const rotated = <T>(items: T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length]!);

// ---- profile mode -------------------------------------------------------------------------------

if (args.profile) {
  const workload = selectedWorkloads[0]!;
  const profiled = gateways.find((g) => g.id === args['profile-gateway'] && g.launch);
  if (!profiled) throw new Error(`--profile-gateway: one of ${gateways.filter((g) => g.launch).map((g) => g.id).join(', ')}`);
  const profileDir = join(resultsDir, `profile-${stamp}-${profiled.id}-${workload.name}`);
  const seconds = num('profile-seconds', args['profile-seconds'], 20);
  log(`profiling ${profiled.label} under ${workload.name} for ${seconds} s (closed loop, ${opts.connections} connections) → ${profileDir}`);
  const peak = await withGateway(profiled, workload.graph, async (s) => {
    const url = s.urlOf(workload);
    const body = JSON.stringify(workload.body);
    const first = await post(url, body);
    if (first.status !== 200 || first.text.includes('"errors"')) throw new Error(`${profiled.label} answered ${first.status}: ${first.text.slice(0, 300)}`);
    const target: Target = { url, body, expectedBytes: Buffer.byteLength(first.text) };
    const clock = () => ({ cpu: cpuMs(s.pid!), us: Number(process.hrtime.bigint() / 1000n) });
    const result = await closedLoop(target, pool, opts.connections, warm, seconds, clock);
    return { rps: result.rps, ok: result.ok, errors: result.errors, cpuMsPerRequest: (result.end.cpu - result.start.cpu) / result.ok, window: { fromUs: result.start.us, toUs: result.end.us } };
  }, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const { readdirSync } = await import('node:fs');
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profileDir}`);
  const summary = summariseProfile(join(profileDir, file), root, 30, peak.window);
  writeFileSync(join(profileDir, 'summary.json'), JSON.stringify({ workload: workload.name, seconds, peak, summary }, null, 2));
  log(`profiled: ${round(peak.rps)} rps (includes profiler overhead), ${round(peak.cpuMsPerRequest, 2)} CPU-ms/request, idle ${summary.idlePct} %`);
  const table = (title: string, rows: Array<{ name: string; module: string; where: string; ms: number; pct: number }>, limit: number) => {
    console.log(`\n${title}`);
    for (const r of rows.slice(0, limit)) console.log(`  ${String(r.pct).padStart(5)} %  ${r.name.padEnd(40).slice(0, 40)}  ${r.where || r.module}`);
  };
  table('Self time by module (% of busy time)', summary.selfByModule, 20);
  table('Self time by function', summary.selfByFunction, 30);
  table('Inclusive time by function', summary.inclusiveByFunction, 30);
  console.log(`\nprofile: ${join(profileDir, file)} (open in Chrome DevTools → Performance); summary: ${join(profileDir, 'summary.json')}`);
  await Promise.all(cleanup.map((c) => c()));
  process.exit(0);
}

// ---- check pass -----------------------------------------------------------------------------------

interface CheckResult {
  bytes: number;
  /** Subgraph requests for one client request, by subgraph path. */
  fetches: Record<string, number>;
  note?: string;
}
const checks = new Map<string, CheckResult>(); // `${gateway}/${workload}`
const reference = new Map<string, { by: GatewayId; text: string }>();
const key = (g: GatewayId, w: string) => `${g}/${w}`;

log(`check pass: ${sessions.length} gateway sessions, every workload once (same JSON from every gateway, subgraph fetches counted)`);
for (const { gw, graph, work } of sessions) {
  await withGateway(gw, graph, async (s) => {
    for (const w of work) {
      const body = JSON.stringify(w.body);
      await post(s.urlOf(w), body); // first sight: plans, fills caches and the canned answers
      const before = await subgraphStats();
      const { status, text } = await post(s.urlOf(w), body);
      const fetches = statsDelta(before, await subgraphStats(), 'requests');
      if (status !== 200) throw new Error(`CHECK FAILED: ${gw.label} answered ${w.name} with HTTP ${status}: ${text.slice(0, 500)}`);
      if (/"errors"\s*:/.test(text)) throw new Error(`CHECK FAILED: ${gw.label} answered ${w.name} with errors: ${text.slice(0, 500)}`);
      const ref = reference.get(w.name);
      let note: string | undefined;
      if (!ref) reference.set(w.name, { by: gw.id, text });
      else {
        const verdict = compareAnswers(ref.text, text);
        if (!verdict.same) throw new Error(`CHECK FAILED: ${gw.label} and ${ref.by} answer ${w.name} differently, at ${verdict.where}`);
        note = verdict.note;
      }
      checks.set(key(gw.id, w.name), { bytes: Buffer.byteLength(text), fetches, ...(note ? { note } : {}) });
      log(`  ${gw.label.padEnd(22)} ${w.name.padEnd(20)} ok, ${Buffer.byteLength(text)} bytes, ${total(fetches)} subgraph request(s)${note ? ` (${note})` : ''}`);
    }
  });
}

// ---- rounds ---------------------------------------------------------------------------------------

interface PeakRun {
  round: number;
  rps: number;
  errors: number;
  latencyP50: number;
  latencyP99: number;
  cpuMsPerRequest: number | null;
  /** Gateway CPU over the window, in % of its core. */
  cpuPct: number | null;
  rssMb: number | null;
  subgraphRequestsPerRequest: number;
  /** Subgraph answers computed by resolvers rather than served canned (should be 0). */
  computed: number;
  /** CPU used by processes other than the harness, canned subgraphs and gateway (others' work on the machine), % of a core. */
  otherPct: number;
  warmupSeconds: number;
  load1: number;
}
interface LatencyRun {
  round: number;
  rate: number;
  sent: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  cpuMsPerRequest: number | null;
  otherPct: number;
  load1: number;
}
const peaks = new Map<string, PeakRun[]>();
const latencies = new Map<string, LatencyRun[]>();
const rates = new Map<string, number>();
const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);

function deriveRates(): void {
  for (const w of selectedWorkloads) {
    const fixed = fixedRates.get(w.name);
    if (fixed) {
      rates.set(w.name, fixed);
      continue;
    }
    const gatewayPeaks = selectedGateways.filter((g) => g.id !== 'direct' && applies(g, w)).map((g) => median((peaks.get(key(g.id, w.name)) ?? []).map((p) => p.rps)));
    const slowest = Math.min(...gatewayPeaks.filter(Number.isFinite));
    // Half the slowest peer's peak, rounded down to two significant digits.
    const half = slowest / 2;
    const unit = 10 ** Math.max(0, Math.floor(Math.log10(half)) - 1);
    rates.set(w.name, Math.max(1, Math.floor(half / unit) * unit));
  }
  log(`fixed rates for the latency runs: ${[...rates].map(([w, r]) => `${w} ${r}/s`).join(', ')}`);
}

/** Machine CPU not used by this benchmark's processes so far (ms): how much others' work competes with it. */
function othersClock(s: Session): number {
  return machineBusyMs() - cpuMs(process.pid) - cpuMs(canned.proc.pid) - (s.pid ? cpuMs(s.pid) : 0);
}

/** Waits until the gateway (or, for the direct target, the canned server) has nothing left to do. */
async function waitIdle(s: Session, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const busy = async () => (s.pid ? cpuMs(s.pid) : total(Object.fromEntries(Object.entries(await subgraphStats()).map(([k, v]) => [k, v.requests]))));
  let last = await busy();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await busy();
    // At most one clock tick (10 ms) of CPU in 250 ms, or no subgraph request at all.
    if (now - last <= (s.pid ? 10 : 0)) return;
    last = now;
  }
  log(`    (still busy after ${timeoutMs / 1000} s; going on)`);
}

async function measureLatency(s: Session, w: Workload, target: Target, roundNo: number, warmFirst: boolean): Promise<LatencyRun> {
  const rate = rates.get(w.name)!;
  if (warmFirst) {
    await closedLoop(target, pool, opts.connections, warm, 0, () => null);
    await waitIdle(s);
  }
  const cpu0 = s.pid ? cpuMs(s.pid) : 0;
  const others0 = othersClock(s);
  const t0 = performance.now();
  const r = await openLoop(target, pool, rate, opts.latency);
  const otherPct = (othersClock(s) - others0) / 10 / ((performance.now() - t0) / 1000);
  const cpu = s.pid ? (cpuMs(s.pid) - cpu0) / r.ok : null;
  log(`    ${w.name.padEnd(20)} latency @${rate}/s: p50 ${round(r.latencyP50, 2)} ms, p99 ${round(r.latencyP99, 2)} ms${r.errors ? `, ${r.errors} ERRORS` : ''}${otherPct > 5 ? ` (others: ${round(otherPct)} % of a core)` : ''}`);
  return { round: roundNo, rate, sent: r.sent, errors: r.errors, p50: r.latencyP50, p90: r.latencyP90, p99: r.latencyP99, max: r.latencyMax, cpuMsPerRequest: cpu, otherPct, load1: load1() };
}

async function measurePeak(s: Session, w: Workload, target: Target, roundNo: number): Promise<PeakRun> {
  const p = await closedLoop(target, pool, opts.connections, warm, opts.peak, async () => ({ cpu: s.pid ? cpuMs(s.pid) : 0, others: othersClock(s), stats: await subgraphStats() }));
  const cpu = s.pid ? p.end.cpu - p.start.cpu : null;
  const run: PeakRun = {
    round: roundNo,
    rps: p.rps,
    errors: p.errors,
    latencyP50: p.latencyP50,
    latencyP99: p.latencyP99,
    cpuMsPerRequest: cpu === null ? null : cpu / p.ok,
    cpuPct: cpu === null ? null : cpu / 10 / p.seconds,
    rssMb: s.pid ? rssMb(s.pid) : null,
    subgraphRequestsPerRequest: total(statsDelta(p.start.stats, p.end.stats, 'requests')) / p.ok,
    computed: total(statsDelta(p.start.stats, p.end.stats, 'computed')),
    otherPct: (p.end.others - p.start.others) / 10 / p.seconds,
    warmupSeconds: p.warmupSeconds,
    load1: load1(),
  };
  log(`    ${w.name.padEnd(20)} peak ${round(run.rps)} rps (after ${round(p.warmupSeconds, 1)} s warm-up), ${run.cpuMsPerRequest === null ? '' : `${round(run.cpuMsPerRequest, 3)} CPU-ms/req (${round(run.cpuPct!)} % of a core), `}${round(run.subgraphRequestsPerRequest, 1)} subgraph req/req${run.errors ? `, ${run.errors} ERRORS` : ''}${run.otherPct > 5 ? ` (others: ${round(run.otherPct)} % of a core)` : ''}`);
  // Requests abandoned when the load stopped are still being served: let them finish first.
  await waitIdle(s);
  return run;
}

/** Waits (up to 1 minute: on a shared machine quiet may never come) until other processes have used under 5 % of a core for 3 s in a row. */
async function waitQuiet(s: Session): Promise<void> {
  const deadline = performance.now() + 60_000;
  let quiet = 0;
  while (performance.now() < deadline && quiet < 3) {
    const before = othersClock(s);
    await new Promise((r) => setTimeout(r, 1000));
    quiet = othersClock(s) - before < 50 ? quiet + 1 : 0;
  }
}

/** Measures; while others' work on the machine exceeded --max-others during the window, waits for quiet and measures again. */
async function guarded<T extends { otherPct: number }>(what: string, s: Session, measure: () => Promise<T>): Promise<T & { attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const result = await measure();
    if (!opts.maxOthers || result.otherPct <= opts.maxOthers || attempt > opts.retries) return { ...result, attempts: attempt };
    log(`    (others used ${round(result.otherPct)} % of a core during ${what}: waiting for a quiet machine, then measuring again)`);
    await waitQuiet(s);
  }
}

const totalRounds = opts.rounds + 1;
for (let r = 1; r <= totalRounds; r++) {
  const doPeak = r <= opts.rounds;
  const doLatency = r >= 2;
  if (r === 2) deriveRates();
  log(`round ${r}/${totalRounds}: ${[doPeak && 'peak', doLatency && 'latency'].filter(Boolean).join(' + ')}; load average ${load1()}`);
  for (const { gw, graph, work } of rotated(sessions, r - 1)) {
    await withGateway(gw, graph, async (s) => {
      log(`  ${gw.label} (${graph})`);
      for (const w of work) {
        const target: Target = { url: s.urlOf(w), body: JSON.stringify(w.body), expectedBytes: checks.get(key(gw.id, w.name))!.bytes };
        if (doPeak) push(peaks, key(gw.id, w.name), await guarded(`${w.name} peak`, s, () => measurePeak(s, w, target, r)));
        if (doLatency) push(latencies, key(gw.id, w.name), await guarded(`${w.name} latency`, s, () => measureLatency(s, w, target, r, !doPeak)));
      }
    });
    // Raw figures so far, in case the run does not finish (the final write replaces them).
    writeFileSync(out, JSON.stringify({ stamp, partial: true, machine, options: opts, rates: Object.fromEntries(rates), checks: Object.fromEntries(checks), peaks: Object.fromEntries(peaks), latencies: Object.fromEntries(latencies) }, null, 2));
  }
}
await Promise.all(cleanup.map((c) => c()));

// ---- report ---------------------------------------------------------------------------------------

const loadAtEnd = loadavg().map((l) => round(l, 2));
const minutes = round((performance.now() - began) / 60_000, 1);
const spread = (values: number[], digits = 0) => (values.length > 1 ? `${round(Math.min(...values), digits)}–${round(Math.max(...values), digits)}` : '');

interface Row {
  gateway: GatewayId;
  label: string;
  workload: string;
  peakRps: number;
  peakRounds: number[];
  cpuMsPerRequest: number | null;
  cpuRounds: number[];
  p50: number;
  p99: number;
  p50Rounds: number[];
  p99Rounds: number[];
  addedP50: number | null;
  addedP99: number | null;
  addedP99Rounds: number[];
  subgraphRequests: number;
  /** Median gateway CPU over the peak windows, % of its core (≈ 100: the gateway was the bottleneck). */
  corePct: number | null;
  errors: number;
}
const rows: Row[] = [];
for (const w of selectedWorkloads) {
  const direct = latencies.get(key('direct', w.name));
  for (const gw of selectedGateways.filter((g) => applies(g, w))) {
    const pk = peaks.get(key(gw.id, w.name)) ?? [];
    const lt = latencies.get(key(gw.id, w.name)) ?? [];
    const cpuRounds = pk.map((p) => p.cpuMsPerRequest).filter((c): c is number => c !== null);
    // Added latency per latency round: this gateway's percentile minus the direct subgraph's in the same round.
    const addedP99Rounds = direct && gw.id !== 'direct' ? lt.map((l) => l.p99 - (direct.find((d) => d.round === l.round)?.p99 ?? Number.NaN)) : [];
    rows.push({
      gateway: gw.id,
      label: gw.label,
      workload: w.name,
      peakRps: median(pk.map((p) => p.rps)),
      peakRounds: pk.map((p) => round(p.rps, 1)),
      cpuMsPerRequest: cpuRounds.length ? median(cpuRounds) : null,
      cpuRounds: cpuRounds.map((c) => round(c, 3)),
      p50: median(lt.map((l) => l.p50)),
      p99: median(lt.map((l) => l.p99)),
      p50Rounds: lt.map((l) => round(l.p50, 2)),
      p99Rounds: lt.map((l) => round(l.p99, 2)),
      addedP50: direct && gw.id !== 'direct' ? median(lt.map((l) => l.p50)) - median(direct.map((d) => d.p50)) : null,
      addedP99: addedP99Rounds.length ? median(addedP99Rounds) : null,
      addedP99Rounds: addedP99Rounds.map((a) => round(a, 2)),
      subgraphRequests: total(checks.get(key(gw.id, w.name))?.fetches ?? {}),
      corePct: pk.some((p) => p.cpuPct !== null) ? median(pk.map((p) => p.cpuPct ?? Number.NaN)) : null,
      errors: pk.reduce((s, p) => s + p.errors, 0) + lt.reduce((s, l) => s + l.errors, 0),
    });
  }
}

/** Router ÷ peer on medians, or "overlap" when the rounds' ranges intersect (or too few rounds to tell). */
function ratio(ours: number[], theirs: number[], oursMedian: number | null, theirsMedian: number | null): string {
  if (oursMedian === null || theirsMedian === null || !Number.isFinite(oursMedian) || !Number.isFinite(theirsMedian) || theirsMedian === 0) return 'n/a';
  if (ours.length < 2 || theirs.length < 2) return `${round(oursMedian / theirsMedian, 2)}× (1 round)`;
  return overlaps(ours, theirs) ? 'overlap' : `${round(oursMedian / theirsMedian, 2)}×`;
}
const comparisons = selectedWorkloads.flatMap((w) => {
  const ours = rows.find((r) => r.gateway === 'router' && r.workload === w.name);
  if (!ours) return [];
  return rows
    .filter((r) => r.workload === w.name && r.gateway !== 'router' && r.gateway !== 'direct')
    .map((peer) => ({
      workload: w.name,
      peer: peer.gateway,
      peakRps: ratio(ours.peakRounds, peer.peakRounds, ours.peakRps, peer.peakRps),
      cpuPerRequest: ratio(ours.cpuRounds, peer.cpuRounds, ours.cpuMsPerRequest, peer.cpuMsPerRequest),
      p99: ratio(ours.p99Rounds, peer.p99Rounds, ours.p99, peer.p99),
      addedP99: ratio(ours.addedP99Rounds, peer.addedP99Rounds, ours.addedP99, peer.addedP99),
    }));
});

const fmt = (v: number | null, digits = 0) => (v === null || !Number.isFinite(v) ? '–' : round(v, digits).toLocaleString('en-US'));
const lines: string[] = [];
lines.push(`| workload | gateway | peak rps (median; range) | core % | CPU-ms/request | p50 / p99 ms @ fixed rate | added p50 / p99 ms | subgraph req/request |`);
lines.push(`|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  const rate = rates.get(r.workload);
  lines.push(
    `| ${r.workload} | ${r.label} | ${fmt(r.peakRps)} (${spread(r.peakRounds)}) | ${fmt(r.corePct)} | ${fmt(r.cpuMsPerRequest, 2)} | ${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} @${rate}/s | ${r.addedP50 === null ? '–' : `${fmt(r.addedP50, 2)} / ${fmt(r.addedP99, 2)}`} | ${r.subgraphRequests} |${r.errors ? ` ${r.errors} errors` : ''}`,
  );
}
lines.push('');
lines.push(`| workload | router vs | peak rps | CPU/request | p99 | added p99 |`);
lines.push(`|---|---|---|---|---|---|`);
for (const c of comparisons) lines.push(`| ${c.workload} | ${c.peer} | ${c.peakRps} | ${c.cpuPerRequest} | ${c.p99} | ${c.addedP99} |`);
console.log(`\n${lines.join('\n')}\n`);
for (const [feature, id] of features) {
  for (const w of selectedWorkloads) {
    const off = rows.find((r) => r.gateway === 'router' && r.workload === w.name);
    const on = rows.find((r) => r.gateway === id && r.workload === w.name);
    if (!off || !on) continue;
    const cpuChange = off.cpuMsPerRequest && on.cpuMsPerRequest ? round((on.cpuMsPerRequest / off.cpuMsPerRequest - 1) * 100, 1) : null;
    const cpu = cpuChange === null ? '' : `, CPU/request ${cpuChange >= 0 ? '+' : ''}${cpuChange} %`;
    log(`${feature} on ${w.name}: peak ${fmt(on.peakRps)} vs ${fmt(off.peakRps)} rps off, cost ${round((1 - on.peakRps / off.peakRps) * 100, 1)} % of throughput${cpu} (rounds on ${on.peakRounds.join(', ')}; off ${off.peakRounds.join(', ')})`);
  }
}
if (registry) {
  const { reports, requests } = registry.received();
  log(`the stand-in registry received ${reports} usage reports counting ${requests} requests`);
}
const otherMax = Math.max(0, ...[...peaks.values(), ...latencies.values()].flat().map((x) => x.otherPct));
log(`others' CPU on the machine during measurement windows: at most ${round(otherMax)} % of a core${otherMax > 10 ? '  (WARNING: > 10 %: figures are skewed; rerun when the machine is quiet)' : ''}`);
const anyComputed = [...peaks.values()].flat().some((p) => p.computed > 0);
if (anyComputed) log('NOTE: some subgraph answers were computed during measurement (a gateway sent bodies never seen before); see results JSON');
log(`done in ${minutes} min, ${sessionCount} gateway starts; load average at start ${loadAtStart.join(' / ')}, at end ${loadAtEnd.join(' / ')}`);

writeFileSync(
  out,
  JSON.stringify(
    {
      stamp,
      machine,
      load: { start: loadAtStart, end: loadAtEnd, othersMaxPctOfCore: round(otherMax, 1) },
      minutes,
      options: { ...opts, quick, routerFlags, gateways: selectedGateways.map((g) => g.id), workloads: selectedWorkloads.map((w) => w.name) },
      rates: Object.fromEntries(rates),
      checks: Object.fromEntries(checks),
      rows,
      comparisons,
      peaks: Object.fromEntries(peaks),
      latencies: Object.fromEntries(latencies),
      table: lines.join('\n'),
    },
    null,
    2,
  ),
);
log(`results: ${out}`);
