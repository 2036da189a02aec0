// `npm run bench:saga`: figures for the checkout saga on this machine (see BENCHMARKS.md).
//  1. The outbox relay's publish rate against a raw kafkajs producer's, same run, same broker;
//     commit→publish latency at a fixed 1,000 events/s.
//  2. Sustained sagas/s to CONFIRMED through the router with the whole supergraph as processes,
//     with placeOrder→CONFIRMED latency and per-process CPU.
// Prints a table and writes bench/results/saga-<timestamp>.json. Loopback only; stops by itself.
//
// Options: --only relay|sagas  --concurrency 1,16,32,64,128  --warmup 30  --measure 60  --events 20000
//          --rounds 3  --rate-seconds 10  --products 10
//          --carried 1000000 (events carried through an outbox before a third commit→publish run; 0: none)
//          --coupons (every customer applies a coupon)  --screening (fraud rules on, none firing)
//          --lean (customers select ids and status only: the checkout without the reads of a web client's selections)
//          --rate 12 (open loop: checkouts start at 12/s, at most --concurrency under way; CPU per saga below saturation)
//          --profile (V8 CPU profiles of every service into .data/bench/profiles/; figures then not comparable)
import { ensureKafka, ensurePostgres, repoDirs } from '@shopgraph/infra';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine.ts';
import { positive, startBenchRun } from './lib/run.ts';
import { loadAverage } from './saga/cpu.ts';
import { benchRelay, type RelayBenchResult } from './saga/relay-bench.ts';
import { benchSagas, type LevelResult, type SagaBenchResult } from './saga/saga-load.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    concurrency: { type: 'string', default: '1,16,32,64,128' },
    warmup: { type: 'string', default: '30' },
    measure: { type: 'string', default: '60' },
    events: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    'rate-seconds': { type: 'string', default: '10' },
    carried: { type: 'string', default: '1000000' },
    products: { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
    coupons: { type: 'boolean', default: false },
    screening: { type: 'boolean', default: false },
    lean: { type: 'boolean', default: false },
    rate: { type: 'string' },
  },
});
const options = {
  relay: args.only !== 'sagas',
  sagas: args.only !== 'relay',
  concurrency: (args.concurrency ?? '').split(',').map((c) => Math.round(positive('concurrency', c))),
  warmupS: positive('warmup', args.warmup),
  measureS: positive('measure', args.measure),
  events: Math.round(positive('events', args.events)),
  rounds: Math.round(positive('rounds', args.rounds)),
  rateSeconds: positive('rate-seconds', args['rate-seconds']),
  /** Events carried through an outbox before its commit→publish run (0: none). */
  carried: args.carried === '0' ? 0 : Math.round(positive('carried', args.carried)),
  products: Math.round(positive('products', args.products)),
  /** V8 CPU profiles of every service (slower: not for the figures); summarise with bench/saga/profile-summary.ts. */
  profile: args.profile === true,
  coupons: args.coupons === true,
  screening: args.screening === true,
  lean: args.lean === true,
  rate: args.rate === undefined ? undefined : positive('rate', args.rate),
};
if (args.only && args.only !== 'relay' && args.only !== 'sagas') throw new Error('--only is relay or sagas');

const TARGETS = { relayRatio: 0.5, commitToPublishP99Ms: 50, sagasPerS: 200, sagasPerSStretch: 500 };
const { startedAt, log, signal } = startBenchRun(20);

const machine = machineInfo();
const load = { start: loadAverage(), end: '' };
log(`${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${load.start}`);

const { data } = repoDirs();
let relay: RelayBenchResult | undefined;
let sagas: SagaBenchResult | undefined;
let failure: unknown;
const postgres = await ensurePostgres({ dataDir: join(data, 'bench', 'postgres'), log });
const kafka = await ensureKafka({ cacheDir: repoDirs().cache, dataDir: join(data, 'bench', 'kafka'), log }).catch(async (error: unknown) => {
  await postgres.stop();
  throw error;
});
try {
  // The stack finds these instead of starting its own.
  process.env.DATABASE_URL = postgres.url;
  process.env.KAFKA_BROKERS = kafka.brokers.join(',');
  if (options.relay && !signal.aborted) {
    log(`relay vs raw producer: ${options.events} events x ${options.rounds} rounds`);
    relay = await benchRelay({
      postgresUrl: postgres.url,
      brokers: kafka.brokers,
      events: options.events,
      rounds: options.rounds,
      batchSize: 500,
      rate: { eventsPerSecond: 1000, perTransaction: 10, seconds: options.rateSeconds },
      carried: options.carried,
      signal,
      log,
    });
  }
  if (options.sagas && !signal.aborted) {
    const profileDir = options.profile ? join(data, 'bench', 'profiles', startedAt.toISOString().replaceAll(':', '-')) : undefined;
    if (profileDir) log(`profiling the services into ${profileDir}`);
    sagas = await benchSagas({ concurrency: options.concurrency, warmupS: options.warmupS, measureS: options.measureS, products: options.products, coupons: options.coupons, screening: options.screening, lean: options.lean, ...(options.rate && { rate: options.rate }), profileDir, signal, log });
  }
} catch (error) {
  failure = error;
} finally {
  await kafka.stop().catch(() => {});
  await postgres.stop().catch(() => {});
}
load.end = loadAverage();

const command = `npm run bench:saga${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const report = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), command, machine, loadAverage: load, options, targets: TARGETS, relay, sagas, interrupted: signal.aborted, error: failure ? String(failure instanceof Error ? (failure.stack ?? failure.message) : failure) : undefined };
const resultsDir = join(import.meta.dirname, 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `saga-${startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(table(report));
console.log(`\nresults: ${file}`);
if (failure) {
  console.error(failure);
  process.exitCode = 1;
}
// kafkajs and pg pools may keep timers alive a moment longer; everything is closed.
setTimeout(() => process.exit(), 1_000).unref();

function table(r: typeof report): string {
  const out: string[] = [];
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const pad = (s: unknown, n: number) => String(s).padEnd(n);
  const lpad = (s: unknown, n: number) => String(s).padStart(n);
  out.push('', `Checkout saga benchmark — ${r.machine.nproc} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load average ${r.loadAverage.start} → ${r.loadAverage.end}`);
  if (r.relay) {
    const relay = r.relay;
    const m = relay.median;
    const rounds = (pick: (x: (typeof relay.rounds)[number]) => number) => relay.rounds.map(pick).join(', ');
    out.push(
      '',
      `Outbox relay vs raw kafkajs producer (${r.relay.events} events of ~${r.relay.avgValueBytes} B, batches of ${r.relay.batchSize}, acks=all, idempotent; medians of ${r.relay.rounds.length} alternating rounds; the ratio is the median of the per-round ratios)`,
      `  raw kafkajs producer            ${lpad(m.rawMsgsPerS, 8)} msg/s   rounds: ${rounds((x) => x.rawMsgsPerS)}`,
      `  kit KafkaClient.send            ${lpad(m.kitSendMsgsPerS, 8)} msg/s   rounds: ${rounds((x) => x.kitSendMsgsPerS)}`,
      `  outbox relay (as shipped)       ${lpad(m.relayMsgsPerS, 8)} msg/s   rounds: ${rounds((x) => x.relayMsgsPerS)}`,
      `  relay / raw                     ${lpad(m.ratio, 8)}×        target ≥ ${TARGETS.relayRatio}×: ${met(m.ratio >= TARGETS.relayRatio)}`,
      `  machine during the rounds: busy ${rounds((x) => x.machineBusyPct)} %; other processes ${rounds((x) => x.otherPct)} % of a core`,
    );
    for (const lat of r.relay.latency) {
      out.push(
        `Commit→publish at ${lat.achievedEventsPerS} events/s, ${lat.table} outbox table (${lat.eventsPerTransaction} events per transaction every ${lat.transactionEveryMs} ms, ${lat.seconds} s; ${lat.published}/${lat.written} published, ${lat.avgBatchSize} events per relay batch)`,
        `  p50 ${lat.commitToPublishMs.p50} ms   p99 ${lat.commitToPublishMs.p99} ms   max ${lat.commitToPublishMs.max} ms   target p99 ≤ ${TARGETS.commitToPublishP99Ms} ms: ${met(lat.commitToPublishMs.p99 <= TARGETS.commitToPublishP99Ms)}   (from the writer's commit returning to Kafka's ack; from the row's creation in the transaction, its insert and commit included: p50 ${lat.recordedToPublishMs.p50} ms, p99 ${lat.recordedToPublishMs.p99} ms; writer's transaction p50 ${lat.commitMs.p50} ms, p99 ${lat.commitMs.p99} ms; machine busy ${lat.machineBusyPct}%, others ${lat.otherPct}% of a core; autovacuum ${lat.autovacuums}×, autoanalyze ${lat.autoanalyzes}× on the table meanwhile)`,
        `  its Postgres sessions (average number per state): ${Object.entries(lat.dbSessions).slice(0, 6).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        ...(lat.before ? [`  the table had just carried ${lat.before.events} events (${lat.before.eventsPerS}/s over ${lat.before.seconds} s) and held ${lat.before.rows} rows, ${lat.before.deadRows} dead, ${lat.before.totalMiB} MiB`] : []),
      );
    }
  }
  if (r.sagas) {
    out.push(
      '',
      `End-to-end checkout sagas (router + every subgraph as processes; ${options.rate ? `open loop: ${options.rate} checkouts/s start, each = fresh token → addToCart → placeOrder → its order's outcome on Kafka` : "closed loop: each virtual customer = fresh token → addToCart → placeOrder → waits for its order's outcome on Kafka"}; ${options.lean ? 'lean selections: ids and status' : "the web client's selections"})`,
      `  ${pad('C', 4)}${lpad('sagas/s', 8)}  ${pad('resp→CONFIRMED p50/p99', 24)}${pad('req→CONFIRMED p50/p99', 23)}${pad('placeOrder p50/p99', 20)}${pad('addToCart p50/p99', 19)}${pad('in flight avg/end', 18)}${pad('failed', 7)}${pad('machine busy (others, % of a core)', 36)}load after`,
    );
    for (const l of r.sagas.levels) {
      const x = l.latencyMs;
      const failed = Object.entries(l.outcomes).filter(([k]) => k !== 'CONFIRMED').reduce((s, [, v]) => s + v, 0) + Object.values(l.errorsInWindow).reduce((s, v) => s + v, 0);
      out.push(
        `  ${pad(l.concurrency, 4)}${lpad(l.sagasPerS, 8)}  ${pad(`${x.placeOrderResponseToConfirmed.p50} / ${x.placeOrderResponseToConfirmed.p99} ms`, 24)}${pad(`${x.placeOrderRequestToConfirmed.p50} / ${x.placeOrderRequestToConfirmed.p99} ms`, 23)}${pad(`${x.placeOrder.p50} / ${x.placeOrder.p99} ms`, 20)}${pad(`${x.addToCart.p50} / ${x.addToCart.p99} ms`, 19)}${pad(`${l.avgInFlight} / ${l.inFlightAtWindowEnd}`, 18)}${pad(failed, 7)}${pad(`${l.cpu.machineBusyPct}% (${l.cpu.otherPct}%)`, 36)}${l.loadAverage.after}`,
      );
    }
    const best = r.sagas.best;
    if (best) {
      out.push(
        `  best: C=${best.concurrency}, ${best.sagasPerS} sagas/s over ${best.windowS} s — target ≥ ${TARGETS.sagasPerS}/s: ${met(best.sagasPerS >= TARGETS.sagasPerS)}; stretch ${TARGETS.sagasPerSStretch}/s: ${met(best.sagasPerS >= TARGETS.sagasPerSStretch)}`,
        `  sagas/s in 5 s slices at C=${best.concurrency}: ${best.sagasPerSBy5s.join(', ')}`,
        `  legs (p50, C=${best.concurrency}; status times = the events' \`at\`, set just before each commit): order created in placeOrder → response ${best.legsP50Ms.orderCreatedToResponse} ms, response → STOCK_RESERVED ${best.legsP50Ms.responseToStockReserved} ms, STOCK_RESERVED → CONFIRMED ${best.legsP50Ms.stockReservedToConfirmed} ms, CONFIRMED → seen on Kafka ${best.legsP50Ms.confirmedToObserved} ms`,
        `  CPU during the window at C=${best.concurrency} (% of one core; ${best.cpu.cores} cores = ${best.cpu.cores * 100}%; CPU ms per CONFIRMED saga):`,
        ...cpuLines(best),
        `  work per CONFIRMED saga at C=${best.concurrency} (approximate: Postgres statistics lag by up to ~1 s):`,
        `    DB transactions: ${Object.entries(best.perSaga.transactions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `    DB rows written: ${Object.entries(best.perSaga.rowsWritten).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `    Kafka messages:  ${Object.entries(best.perSaga.kafkaMessages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `    Kafka requests:  ${Object.entries(best.perSaga.kafkaRequests).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `    subgraph HTTP requests: ${Object.entries(best.perSaga.httpRequests).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `    GraphQL operations they carried: ${Object.entries(best.perSaga.graphqlOperations).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `  Postgres sessions of the services at C=${best.concurrency} (average number in each state; Lock:object at commit = the NOTIFY lock):`,
        `    ${Object.entries(best.dbSessions).slice(0, 8).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      );
    }
  }
  return out.join('\n');
}

function cpuLines(level: LevelResult): string[] {
  const entries = Object.entries(level.cpu.byLabel).filter(([, pct]) => pct >= 0.5);
  const msPerSaga = (pct: number) => (level.sagasPerS > 0 ? `${Math.round((pct * 10) / level.sagasPerS)} ms/saga` : '');
  const lines = entries.map(([label, pct]) => `    ${label.padEnd(36)}${String(pct).padStart(6)}%   ${msPerSaga(pct)}`);
  lines.push(`    ${'other processes on the machine'.padEnd(36)}${String(level.cpu.otherPct).padStart(6)}%`);
  return lines;
}
