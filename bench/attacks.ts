// `npm run bench:attacks`: legitimate traffic's latency while the router is attacked (issue #23,
// "legitimate traffic's p99 during each attack ≤ 1.5× without it"; RELIABILITY.md). The whole
// supergraph runs as processes (scripts/stack.ts: the subgraphs, the router with its Redis rate
// limits, real Postgres, Kafka, Redis and Elasticsearch), every limit at its default, the router
// trusting one proxy hop so each simulated client has its own address (X-Forwarded-For).
//
// Legitimate load: a product page (Product) and a cart read (Cart) in turn, through the router at a
// fixed rate (open loop: latency counted from when a request was due), each from one of
// `--customers` signed-in customers (tokens signed with the accounts key, as bench:saga's), each
// customer at its own address. Per attack, `--rounds` rounds of one window without the attack and
// one with it (in turn without-with, with-without, …, so a drift of the machine weighs on both), the
// attack in a process of its own (bench/attacks/attacker.ts) started `--attack-warmup` s before its
// window and stopped after it. A p99 of one short window is decided by its few slowest requests (one
// pause of any process, or of the machine, sets it): the ratio compares the p99 of all the rounds'
// windows with the attack against that of all the windows without it, next to them in time.
// The attacker runs at the lowest CPU priority (nice 19): a real attacker's CPU is its own
// machine's, so here it takes only what the stack leaves; the rate it reached is in the result.
// Also per attack: what the attacker got back by code, and the router's RSS before and after.
//
// Writes .data/bench/attacks-<timestamp>.json and .data/bench/attacks-latest.json (what
// `npm run reliability` reads). Loopback only; stops by itself.
//
// Options: --rate 50  --seconds 10  --rounds 5  --warmup 10  --attack-warmup 5  --customers 50  --products 10
//          --attacks documents,expensive,bruteforce,flood,websocket,jwt  --scale 1 (multiplies every attack's rate)
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoDirs } from '@shopgraph/infra';
import { sleep } from '@shopgraph/core/lifecycle';
import pg from 'pg';
import type { JWK } from 'jose';
import { operation } from '../e2e/operations.ts';
import { startStack, type Stack } from '../scripts/stack.ts';
import { ATTACK_PLAN, ATTACKS, type AttackConfig, type AttackName, type AttackResult, type AttackRow, type AttacksReport, type Window } from './attacks/plan.ts';
import { addressOf, httpClient, type HttpClient } from './attacks/http.ts';
import { machineInfo } from './lib/machine.ts';
import { positive, startBenchRun } from './lib/run.ts';
import { percentile, round } from './lib/stats.ts';
import { loadAverage } from './saga/cpu.ts';
import { customerTokens } from './saga/saga-load.ts';
import { failures, openLoop, type LoadResult } from './search/load.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '10' },
    'attack-warmup': { type: 'string', default: '5' },
    customers: { type: 'string', default: '50' },
    products: { type: 'string', default: '10' },
    attacks: { type: 'string', default: ATTACKS.join(',') },
    scale: { type: 'string', default: '1' },
  },
});
const attacks = (args.attacks ?? '').split(',').map((a) => a.trim()).filter(Boolean) as AttackName[];
for (const attack of attacks) if (!(ATTACKS as readonly string[]).includes(attack)) throw new Error(`--attacks takes ${ATTACKS.join(',')} (got ${attack})`);
const options = {
  rate: positive('rate', args.rate),
  seconds: positive('seconds', args.seconds),
  rounds: Math.round(positive('rounds', args.rounds)),
  warmupS: positive('warmup', args.warmup),
  attackWarmupS: positive('attack-warmup', args['attack-warmup']),
  customers: Math.round(positive('customers', args.customers)),
  products: Math.round(positive('products', args.products)),
  scale: positive('scale', args.scale),
  attacks,
};

const TARGET_RATIO = 1.5;
const DB_PREFIX = 'benchattacks';
const { startedAt, log, signal } = startBenchRun(30);
const machine = machineInfo();
const load = { start: loadAverage(), end: '' };
log(`${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${load.start}`);

const run = `${DB_PREFIX}${randomBytes(3).toString('hex')}`;
const staff = { email: 'staff@bench.test', password: `bench-${randomBytes(8).toString('hex')}`, name: 'Bench Staff' };
const victim = { email: 'victim@bench.test', password: `victim-${randomBytes(8).toString('hex')}`, name: 'Victim' };
const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

const report: AttacksReport = {
  startedAt: startedAt.toISOString(),
  finishedAt: '',
  command: `npm run bench:attacks${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  machine,
  loadAverage: load,
  options,
  targetRatio: TARGET_RATIO,
  legitimate: `Product and Cart queries in turn at ${options.rate}/s through the router, open loop, ${options.customers} signed-in customers each at its own address`,
  attacks: [],
  interrupted: false,
};

let stack: Stack | undefined;
let failure: unknown;
try {
  log(`starting the supergraph (subgraphs + router as processes, Postgres, Kafka, Redis, Elasticsearch; run ${run})`);
  stack = await startStack({
    ports: 'free',
    databasePrefix: DB_PREFIX,
    fresh: true,
    dataDir: 'bench-attacks',
    env: {
      KAFKA_TOPIC_PREFIX: `${run}.`,
      ELASTICSEARCH_INDEX_PREFIX: `${run}-`,
      REDIS_KEY_PREFIX: `${run}:`,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      // Clients behind one proxy: the router (and accounts behind it) count each client's own address.
      TRUST_PROXY_HOPS: '1',
      STAFF_EMAIL: staff.email,
      STAFF_PASSWORD: staff.password,
      STAFF_NAME: staff.name,
    },
    log: (message) => log(`  stack: ${message}`),
  });
  report.logs = stack.logs;
  await measure(stack);
} catch (error) {
  failure = error;
} finally {
  if (stack) {
    log('stopping the supergraph');
    await stack.stop().catch((error: unknown) => log(`stopping the stack failed: ${String(error)}`));
  }
}
load.end = loadAverage();
report.finishedAt = new Date().toISOString();
report.interrupted = signal.aborted;
if (failure) report.error = String(failure instanceof Error ? (failure.stack ?? failure.message) : failure);

const dir = join(repoDirs().data, 'bench');
mkdirSync(dir, { recursive: true });
const file = join(dir, `attacks-${startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
if (!failure && !signal.aborted) copyFileSync(file, join(dir, 'attacks-latest.json'));
console.log(table(report));
console.log(`\nresults: ${file}${failure || signal.aborted ? ' (not copied to attacks-latest.json: the run did not finish)' : ''}`);
if (failure) {
  console.error(failure);
  process.exitCode = 1;
} else if (report.attacks.some((row) => !row.pass)) process.exitCode = 2;
setTimeout(() => process.exit(), 1_000).unref();

async function measure(stack: Stack): Promise<void> {
  const client = httpClient(stack.routerUrl, { maxSockets: 256, timeoutMs: 10_000 });
  try {
    const seeded = await seed(stack, client);
    const sign = await customerTokens(stack);
    const customers = Array.from({ length: options.customers }, (_, i) => ({ id: seeded.customers[i]!, address: addressOf('legit', i) }));
    let tokens: string[] = [];
    // Tokens live 10 minutes: signed afresh for every window.
    const freshTokens = async () => void (tokens = await Promise.all(customers.map((c) => sign(c.id))));
    const legitWindow = async (seconds: number): Promise<LoadResult> => {
      await freshTokens();
      const result = await openLoop({
        rate: options.rate,
        seconds,
        maxInFlight: 512,
        signal,
        send: async (i) => {
          const c = i % customers.length;
          const headers = { authorization: `Bearer ${tokens[c]}`, 'x-forwarded-for': customers[c]!.address };
          const body = i % 2 === 0
            ? JSON.stringify({ query: operation('Product'), variables: { id: seeded.products[i % seeded.products.length] } })
            : JSON.stringify({ query: operation('Cart') });
          const answer = await client.post(body, headers);
          if (answer.status !== 200 || answer.body.errors?.length) return { ok: false, error: `HTTP ${answer.status} ${answer.code ?? ''}`.trim() };
          return { ok: true };
        },
      });
      return result;
    };

    log(`warm-up: ${options.warmupS} s of legitimate load at ${options.rate}/s`);
    await legitWindow(options.warmupS);
    const routerPid = findRouterPid();
    report.routerRssMiB = rssMiB(routerPid);

    const accountsJwk = await signingKey(stack);
    const issuer = new URL(stack.subgraphUrls['accounts']!).origin;
    let pair = 0;
    for (const attack of options.attacks) {
      if (signal.aborted) break;
      const plan = ATTACK_PLAN[attack];
      const rate = plan.rate * options.scale;
      const rssBefore = rssMiB(routerPid);
      log(`attack ${attack} at ${rate}/s: ${plan.what}`);
      const withAttack: LoadResult[] = [];
      const withoutAttack: LoadResult[] = [];
      const rounds: AttackRow['rounds'] = [];
      const results: (AttackResult | { error: string })[] = [];
      const attacked = async (): Promise<LoadResult> => {
        // A fresh token per attack (they last 10 minutes, a run with more rounds longer).
        const attackerToken = await sign(seeded.attacker);
        const attacker = startAttacker({ attack, routerUrl: stack.routerUrl, rate, victimEmail: victim.email, attackerToken, orderId: seeded.order, accountsJwk, issuer });
        await sleep(options.attackWarmupS * 1000, signal);
        const window = await legitWindow(options.seconds);
        results.push(await attacker.stop());
        // Let the router and the subgraphs drain what the attack left before a window without it.
        await sleep(3_000, signal);
        return window;
      };
      for (let r = 0; r < options.rounds && !signal.aborted; r++, pair++) {
        const attackFirst = pair % 2 === 1;
        const first = attackFirst ? await attacked() : await legitWindow(options.seconds);
        const second = attackFirst ? await legitWindow(options.seconds) : await attacked();
        const [during, apart] = attackFirst ? [first, second] : [second, first];
        withAttack.push(during);
        withoutAttack.push(apart);
        rounds.push({ withP99Ms: summarize(during).p99Ms, withoutP99Ms: summarize(apart).p99Ms });
        log(`  round ${r + 1}: p99 ${rounds.at(-1)!.withP99Ms} ms with, ${rounds.at(-1)!.withoutP99Ms} ms without`);
      }
      const legit = summarize(...withAttack);
      const without = summarize(...withoutAttack);
      const p99Ratio = round(legit.p99Ms / without.p99Ms, 2);
      const row: AttackRow = {
        attack, what: plan.what, expect: plan.expect, attacker: mergeResults(results), legit, without, rounds,
        p99Ratio, p50Ratio: round(legit.p50Ms / without.p50Ms, 2),
        pass: p99Ratio <= TARGET_RATIO && Object.keys(legit.failures).length === 0 && Object.keys(without.failures).length === 0,
        routerRssMiB: { before: rssBefore, after: rssMiB(routerPid) },
      };
      report.attacks.push(row);
      log(`  legitimate p50 / p99 ${legit.p50Ms} / ${legit.p99Ms} ms with, ${without.p50Ms} / ${without.p99Ms} ms without (${p99Ratio}×; ${legit.ok}/${legit.requests} ok); attacker: ${JSON.stringify('outcomes' in row.attacker ? row.attacker.outcomes : row.attacker)}`);
    }
  } finally {
    client.close();
  }
}

/** Latencies of the answered requests of one or more windows, together. */
function summarize(...windows: LoadResult[]): Window {
  const samples = windows.flatMap((w) => w.samples);
  const latencies = samples.filter((s) => s.outcome.ok).map((s) => s.end - s.due);
  return {
    requests: samples.length,
    ok: latencies.length,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(Math.max(...latencies), 1),
    failures: failures(samples),
    skipped: windows.reduce((sum, w) => sum + w.skipped, 0),
  };
}

/** One attacker result for all the rounds of an attack: counts added up. */
function mergeResults(results: (AttackResult | { error: string })[]): AttackResult | { error: string } {
  const failed = results.find((r): r is { error: string } => 'error' in r);
  if (failed) return failed;
  const done = results as AttackResult[];
  const outcomes: Record<string, number> = {};
  for (const r of done) for (const [outcome, n] of Object.entries(r.outcomes)) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
  const sum = (pick: (r: AttackResult) => number) => done.reduce((total, r) => total + pick(r), 0);
  return { attack: done[0]!.attack, rate: done[0]!.rate, seconds: round(sum((r) => r.seconds), 1), sent: sum((r) => r.sent), skipped: sum((r) => r.skipped), outcomes };
}

/** Products with stock, carts for the legitimate customers, the brute force's victim, and an order for the attacking user to subscribe to. */
async function seed(stack: Stack, client: HttpClient): Promise<{ products: string[]; customers: string[]; attacker: string; order: string }> {
  const call = async (name: string, variables: Record<string, unknown>, token?: string) => {
    const answer = await client.post(JSON.stringify({ query: operation(name), variables }), { 'x-forwarded-for': addressOf('legit', 60_000), ...(token ? { authorization: `Bearer ${token}` } : {}) });
    const payload = answer.body.data ? Object.values(answer.body.data)[0] : undefined;
    if (answer.body.errors?.length || payload?.errors?.length) throw new Error(`seed: ${name}: ${JSON.stringify(answer.body.errors ?? payload.errors)}`);
    return payload;
  };
  const staffToken = (await call('Login', { input: { email: staff.email, password: staff.password } })).accessToken as string;
  const products: string[] = [];
  for (let n = 0; n < options.products; n++) {
    const created = await call('CreateProduct', { input: { sku: `ATTACK-${run}-${n}`, name: `Bench product ${n}`, price: { amount: 1_000 + n * 100, currency: 'USD' } } }, staffToken);
    products.push(created.product.id);
    await call('SetStock', { input: { productId: created.product.id, quantity: 100_000_000 } }, staffToken);
  }
  await call('Register', { input: victim });
  const sign = await customerTokens(stack);
  const customers = Array.from({ length: options.customers }, () => crypto.randomUUID());
  for (const [i, id] of customers.entries()) {
    const token = await sign(id);
    for (const productId of [products[i % products.length], products[(i + 1) % products.length]]) await call('AddToCart', { input: { productId, quantity: 1 } }, token);
  }
  const attacker = crypto.randomUUID();
  const attackerToken = await sign(attacker);
  await call('AddToCart', { input: { productId: products[0], quantity: 1 } }, attackerToken);
  const placed = await call('PlaceOrder', { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: ADDRESS, paymentMethod: 'pm_card_visa' } }, attackerToken);
  log(`seeded ${products.length} products, ${customers.length} customers with two cart lines each, the victim account and the attacker's order`);
  return { products, customers, attacker, order: placed.order.id as string };
}

/** The accounts service's signing key (read from behind the API, as bench:saga's tokens are signed). */
async function signingKey(stack: Stack): Promise<JWK> {
  const db = new pg.Client({ connectionString: stack.databaseUrls['accounts'] });
  await db.connect();
  try {
    return (await db.query<{ private_jwk: JWK }>('select private_jwk from signing_key order by created_at desc limit 1')).rows[0]!.private_jwk;
  } finally {
    await db.end();
  }
}

function startAttacker(config: AttackConfig): { stop(): Promise<AttackResult | { error: string }> } {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'attacks/attacker.ts')], { env: { ...process.env, ATTACK_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (child.pid !== undefined) setPriority(child.pid, 19);
  return {
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      try {
        return JSON.parse(output.trim().split('\n').at(-1) ?? '') as AttackResult;
      } catch {
        return { error: `the attacker exited (${code}) without a result` };
      }
    },
  };
}

/** The router process the stack started (our child, running router/src/index.ts). */
function findRouterPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('router/src/index.ts')) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return round(kib / 1024, 1);
  } catch {
    return Number.NaN;
  }
}

function table(r: AttacksReport): string {
  const lines = [`legitimate: ${r.legitimate}; ${r.options.rounds} rounds of ${r.options.seconds} s with and without each attack${r.routerRssMiB === undefined ? '' : `; router RSS ${r.routerRssMiB} MiB at the start`}`];
  lines.push('', 'attack      rate/s  reached  p50 / p99 ms with  without      p99 ×  per round (with/without)     pass  router RSS MiB  attacker got back');
  for (const row of r.attacks) {
    const got = 'outcomes' in row.attacker ? Object.entries(row.attacker.outcomes).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k}: ${v}`).join(', ') : row.attacker.error;
    const rate = 'rate' in row.attacker ? row.attacker.rate : '?';
    const reached = 'sent' in row.attacker && row.attacker.seconds > 0 ? Math.round(row.attacker.sent / row.attacker.seconds) : '?';
    const perRound = row.rounds.map((x) => `${x.withP99Ms}/${x.withoutP99Ms}`).join(' ');
    lines.push(`${row.attack.padEnd(11)} ${String(rate).padStart(6)}  ${String(reached).padStart(7)}  ${`${row.legit.p50Ms} / ${row.legit.p99Ms}`.padEnd(17)}  ${`${row.without.p50Ms} / ${row.without.p99Ms}`.padEnd(11)}  ${String(row.p99Ratio).padStart(5)}  ${perRound.padEnd(27)}  ${(row.pass ? 'yes' : 'NO').padEnd(4)}  ${`${row.routerRssMiB.before} → ${row.routerRssMiB.after}`.padEnd(14)}  ${got}`);
  }
  lines.push('', `load average: ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end`);
  return lines.join('\n');
}
