// Part 1: the outbox relay against a raw kafkajs producer, in this process, on scratch databases
// and a topic prefix of its own; then commit→publish latency at a fixed event rate.
import { contracts, createEvent, type Envelope } from '@shopgraph/events';
import { createDatabase, databaseUrl, dropDatabase } from '@shopgraph/infra';
import { createKafka, createLogger, messagingEntities, messagingMigrations, openDatabase, recordEvent, startOutboxRelay, type KafkaClient, type Orm, type RelayRunner } from '@shopgraph/kit';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { cpuBetween, sampleCpu } from './cpu.ts';
import { sampleSessions } from './pg-sessions.ts';
import { distribution, median, round, type Distribution } from './stats.ts';
import { sleep } from '@shopgraph/core/lifecycle';

const TYPE = 'orders.order.status-changed';
const TOPIC = contracts[TYPE].topic;
const logger = createLogger('bench-relay', 'error');

export interface RelayBenchOptions {
  postgresUrl: string;
  brokers: string[];
  /** Events per throughput round (default 20,000). */
  events: number;
  rounds: number;
  /** Relay batch size, also the raw producer's batch size and the outbox writer's transaction size. */
  batchSize: number;
  /** Fixed-rate phase: events per second, events per transaction, duration. */
  rate: { eventsPerSecond: number; perTransaction: number; seconds: number };
  /** Events carried through a third table at full speed before its fixed-rate phase (0: no such phase). */
  carried: number;
  signal: AbortSignal;
  log: (message: string) => void;
}

export interface ThroughputRound {
  round: number;
  rawMsgsPerS: number;
  kitSendMsgsPerS: number;
  relayMsgsPerS: number;
  ratio: number;
  /** Busy % of the whole machine during the round, and what processes other than ours used (% of one core). */
  machineBusyPct: number;
  otherPct: number;
}

export interface LatencyRun {
  /**
   * clean: a fresh outbox table; dirty: the table the throughput rounds left (the last round's N
   * published rows, not yet vacuumed); carried: a table that has just carried `carried` events
   * (written and published at full speed, the relay deleting what it published as it does in a service).
   */
  table: 'clean' | 'dirty' | 'carried';
  /** For `carried`: what the table went through, and what it held when the fixed rate started. */
  before?: Carried;
  eventsPerSecondTarget: number;
  eventsPerTransaction: number;
  transactionEveryMs: number;
  seconds: number;
  written: number;
  published: number;
  achievedEventsPerS: number;
  commitMs: Distribution;
  /** From the writer's commit returning to Kafka's acknowledgement, per event. */
  commitToPublishMs: Distribution;
  /** From the row's creation in the writer's transaction (`created_at`, what the relay's metric reports): its insert and commit included. */
  recordedToPublishMs: Distribution;
  batches: number;
  avgBatchSize: number;
  machineBusyPct: number;
  otherPct: number;
  /** Autovacuum / autoanalyze runs on outbox_message during the run (they compete with the relay and the writer). */
  autovacuums: number;
  autoanalyzes: number;
  /** The scratch database's sessions meanwhile (average number per state; see pg-sessions.ts). */
  dbSessions: Record<string, number>;
}

export interface Carried {
  events: number;
  /** Written and published, from the first write to the last acknowledgement. */
  eventsPerS: number;
  seconds: number;
  /** At the end: rows and dead rows (pg_stat_user_tables), and the table's size with its indexes. */
  rows: number;
  deadRows: number;
  totalMiB: number;
}

export interface RelayBenchResult {
  events: number;
  batchSize: number;
  avgValueBytes: number;
  rounds: ThroughputRound[];
  median: { rawMsgsPerS: number; kitSendMsgsPerS: number; relayMsgsPerS: number; ratio: number };
  latency: LatencyRun[];
}

const statusChangedData = () => ({ orderId: crypto.randomUUID(), userId: crypto.randomUUID(), version: 3, status: 'CONFIRMED' as const, reason: null, at: new Date().toISOString() });

/** A realistic envelope: what orders records on every status change. */
const statusChanged = (): Envelope & { type: typeof TYPE } => {
  const data = statusChangedData();
  return createEvent(TYPE, 'orders', data.orderId, data);
};

export async function benchRelay(options: RelayBenchOptions): Promise<RelayBenchResult> {
  const { log, signal } = options;
  const hex = randomBytes(4).toString('hex');
  const prefix = `bench${hex}.`;
  const databases = [`bench_relay_${hex}`, `bench_relay_${hex}_clean`, ...(options.carried > 0 ? [`bench_relay_${hex}_carried`] : [])];
  const orms: Orm[] = [];
  let kafka: KafkaClient | undefined;
  let producer: Producer | undefined;
  try {
    for (const database of databases) {
      await createDatabase(options.postgresUrl, database);
      orms.push(await openDatabase({ url: databaseUrl(options.postgresUrl, database), entities: messagingEntities, migrations: [...messagingMigrations], poolMax: 10, service: 'bench' }));
    }
    const [orm, cleanOrm, carriedOrm] = orms as [Orm, Orm, Orm | undefined];
    // The relay's client, as runService makes it; warmed up (topic created, producer connected) before any timing.
    kafka = createKafka({ brokers: options.brokers, clientId: 'bench-relay', topicPrefix: prefix });
    await kafka.ensureTopics([TOPIC]);
    await kafka.send([{ topic: TOPIC, key: 'warm-up', value: JSON.stringify(statusChanged()) }]);
    // The raw producer: kafkajs with exactly the kit's producer settings (idempotent, one request in flight, acks=all, murmur2).
    const raw = new Kafka({ clientId: 'bench-raw', brokers: options.brokers, connectionTimeout: 3_000, requestTimeout: 10_000, retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 }, logLevel: logLevel.ERROR });
    producer = raw.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: kafka.topic(TOPIC), acks: -1, messages: [{ key: 'warm-up', value: '{}' }] });

    const rounds: ThroughputRound[] = [];
    let valueBytes = 0;
    // Round 0 warms up the JIT of this process and of the broker's JVM; it is not reported.
    for (let n = 0; n <= options.rounds && !signal.aborted; n++) {
      const events = n === 0 ? Math.min(options.events, 5_000) : options.events;
      const cpuStart = sampleCpu('bench_relay');

      // (a) raw producer: batches of batchSize, one at a time (as the relay sends them), messages shaped as the relay's.
      const rawMessages = Array.from({ length: events }, () => {
        const event = statusChanged();
        return { key: event.subject, value: JSON.stringify(event), headers: { 'event-id': event.id, 'event-type': event.type } };
      });
      valueBytes = rawMessages.reduce((sum, m) => sum + Buffer.byteLength(m.value), 0) / rawMessages.length;
      let started = performance.now();
      for (let i = 0; i < rawMessages.length; i += options.batchSize) {
        await producer.sendBatch({ acks: -1, topicMessages: [{ topic: kafka.topic(TOPIC), messages: rawMessages.slice(i, i + options.batchSize) }] });
      }
      const rawMsgsPerS = events / ((performance.now() - started) / 1000);

      // (a') the kit's KafkaClient.send (what the relay calls), same batches: separates the adapter from the relay's own work.
      const kitMessages = rawMessages.map((m) => ({ topic: TOPIC, key: m.key, value: m.value, headers: m.headers }));
      started = performance.now();
      for (let i = 0; i < kitMessages.length; i += options.batchSize) await kafka.send(kitMessages.slice(i, i + options.batchSize));
      const kitSendMsgsPerS = events / ((performance.now() - started) / 1000);

      // (b) the relay as the services run it, draining a backlog: the events in the outbox first (untimed), then the relay
      // starts and drains it. Before the backlog, VACUUM ANALYZE the table while every row in it is published: the state
      // autovacuum leaves a service's outbox in, and the same for every round. (Without it the rounds depend on when
      // autovacuum last ran: see bench/saga/outbox-plan.ts for what a never-analyzed or unvacuumed outbox costs.)
      await orm.em.getConnection().execute('vacuum analyze outbox_message');
      await writeOutbox(orm, events, options.batchSize);
      const relayMsgsPerS = await drain(orm, kafka, events, options);
      const cpu = cpuBetween(cpuStart, sampleCpu('bench_relay'));
      const result: ThroughputRound = {
        round: n,
        rawMsgsPerS: Math.round(rawMsgsPerS),
        kitSendMsgsPerS: Math.round(kitSendMsgsPerS),
        relayMsgsPerS: Math.round(relayMsgsPerS),
        ratio: round(relayMsgsPerS / rawMsgsPerS, 2),
        machineBusyPct: cpu.machineBusyPct,
        otherPct: cpu.otherPct,
      };
      const line = `raw ${result.rawMsgsPerS} msg/s, kit send ${result.kitSendMsgsPerS} msg/s, relay ${result.relayMsgsPerS} msg/s, ratio ${result.ratio}; machine busy ${cpu.machineBusyPct}%, others ${cpu.otherPct}% of a core`;
      if (n === 0) {
        log(`warm-up round (not reported): ${line}`);
        continue;
      }
      rounds.push(result);
      log(`relay round ${n}: ${line}`);
    }

    const latency: LatencyRun[] = [];
    if (!signal.aborted) latency.push(await fixedRate(cleanOrm, databases[1]!, kafka, 'clean', options));
    if (!signal.aborted) latency.push(await fixedRate(orm, databases[0]!, kafka, 'dirty', options));
    if (carriedOrm && !signal.aborted) {
      const before = await carry(carriedOrm, kafka, options);
      if (!signal.aborted) latency.push({ ...(await fixedRate(carriedOrm, databases[2]!, kafka, 'carried', options)), before });
    }
    return {
      events: options.events,
      batchSize: options.batchSize,
      avgValueBytes: Math.round(valueBytes),
      rounds,
      median: {
        rawMsgsPerS: median(rounds.map((r) => r.rawMsgsPerS)),
        kitSendMsgsPerS: median(rounds.map((r) => r.kitSendMsgsPerS)),
        relayMsgsPerS: median(rounds.map((r) => r.relayMsgsPerS)),
        ratio: median(rounds.map((r) => r.ratio)),
      },
      latency,
    };
  } finally {
    await producer?.disconnect().catch(() => {});
    await kafka?.close().catch(() => {});
    for (const orm of orms) await orm.close().catch(() => {});
    for (const database of databases) await dropDatabase(options.postgresUrl, database).catch((error: unknown) => log(`could not drop ${database}: ${String(error)}`));
  }
}

/** N status-changed events into the outbox, `perTransaction` per transaction, as a service records them. */
async function writeOutbox(orm: Orm, events: number, perTransaction: number): Promise<string[]> {
  const ids: string[] = [];
  for (let written = 0; written < events; written += perTransaction) {
    await orm.em.fork().transactional(async (em) => {
      for (let i = 0; i < Math.min(perTransaction, events - written); i++) {
        const data = statusChangedData();
        ids.push(recordEvent(em, TYPE, data.orderId, data).id);
      }
    });
  }
  return ids;
}

/**
 * Carries `options.carried` events through the outbox at full speed, as a long busy spell would:
 * two writers commit transactions of `batchSize` while a relay with the services' settings
 * publishes (and deletes what it published a minute ago). Returns when all are published.
 */
async function carry(orm: Orm, kafka: KafkaClient, options: RelayBenchOptions): Promise<Carried> {
  const events = options.carried;
  let published = 0;
  const relay = await startOutboxRelay({ orm, kafka, logger, onPublished: ({ count }) => void (published += count) });
  const started = performance.now();
  let lastLog = started;
  try {
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < events && !options.signal.aborted) {
        const n = Math.min(options.batchSize, events - next);
        next += n;
        await writeOutbox(orm, n, n);
        // At most 60,000 events ahead of the relay: a backlog it works off, not a table filled first.
        while (next - published > 60_000 && !options.signal.aborted) await sleep(50);
        if (performance.now() - lastLog > 15_000) {
          lastLog = performance.now();
          options.log(`  carried ${published} of ${events} events`);
        }
      }
    };
    await Promise.all([writer(), writer()]);
    for (let waited = 0; published < events && waited < 120_000 && !options.signal.aborted; waited += 50) await sleep(50);
  } finally {
    await relay.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (published < events && !options.signal.aborted) throw new Error(`relay published ${published} of ${events} carried events`);
  const [table] = await orm.em.getConnection().execute<{ rows: number; dead: number; bytes: number }[]>(
    `select n_live_tup::int as rows, n_dead_tup::int as dead, pg_total_relation_size(relid)::float8 as bytes from pg_stat_user_tables where relname = 'outbox_message'`,
  );
  const carried: Carried = { events, eventsPerS: Math.round(events / seconds), seconds: round(seconds, 1), rows: table?.rows ?? 0, deadRows: table?.dead ?? 0, totalMiB: round((table?.bytes ?? 0) / 2 ** 20, 1) };
  options.log(`carried ${events} events through the outbox in ${carried.seconds} s (${carried.eventsPerS}/s); the table now: ${carried.rows} rows, ${carried.deadRows} dead, ${carried.totalMiB} MiB`);
  return carried;
}

/** How often autovacuum has vacuumed and analyzed outbox_message so far. */
async function maintenance(orm: Orm): Promise<{ vacuums: number; analyzes: number }> {
  const [row] = await orm.em.getConnection().execute<{ vacuums: number; analyzes: number }[]>(
    `select autovacuum_count::int as vacuums, autoanalyze_count::int as analyzes from pg_stat_user_tables where relname = 'outbox_message'`,
  );
  return row ?? { vacuums: 0, analyzes: 0 };
}

/** Starts a relay on a full outbox and times it until `events` are published (counted by onPublished); msgs/s. */
async function drain(orm: Orm, kafka: KafkaClient, events: number, options: RelayBenchOptions): Promise<number> {
  let published = 0;
  let done!: () => void;
  const drained = new Promise<void>((resolve) => (done = resolve));
  const started = performance.now();
  const relay = await startOutboxRelay({
    orm,
    kafka,
    logger,
    batchSize: options.batchSize,
    onPublished: ({ count }) => {
      published += count;
      if (published >= events) done();
    },
  });
  await Promise.race([drained, sleep(120_000, options.signal)]);
  const rate = published / ((performance.now() - started) / 1000);
  await relay.stop();
  if (published < events && !options.signal.aborted) throw new Error(`relay published ${published} of ${events} events within 120 s`);
  return rate;
}

/**
 * (c) A relay runs (its default batch size and poll interval, as in the services); a writer commits
 * `perTransaction` events every `1000 * perTransaction / eventsPerSecond` ms on a fixed schedule
 * (transactions may overlap if one is slow, so the rate holds), for `seconds`. The relay's
 * onPublished latencies (recordEvent's created_at → Kafka ack) are the commit→publish times.
 */
async function fixedRate(orm: Orm, database: string, kafka: KafkaClient, table: LatencyRun['table'], options: RelayBenchOptions): Promise<LatencyRun> {
  const { eventsPerSecond, perTransaction, seconds } = options.rate;
  const everyMs = (1000 * perTransaction) / eventsPerSecond;
  const transactions = Math.round((seconds * 1000) / everyMs);
  const latencies: number[] = [];
  let batches = 0;
  // By event id, in Date.now() time: when the writer's commit returned, when Kafka acknowledged it.
  const committedAt = new Map<string, number>();
  const publishedAt = new Map<string, number>();
  const relay: RelayRunner = await startOutboxRelay({
    orm,
    kafka,
    logger,
    onPublished: ({ latencyMs }) => {
      batches++;
      for (const ms of latencyMs) latencies.push(ms);
    },
    afterSend: ({ ids }) => {
      const now = Date.now();
      for (const id of ids) publishedAt.set(id, now);
    },
  });
  try {
    for (let waited = 0; !relay.leader && waited < 10_000; waited += 20) await sleep(20);
    if (!relay.leader) throw new Error('the relay did not become the publisher within 10 s');
    await sleep(300); // the relay's first (empty) cycle has run; it now waits for NOTIFY
    const maintenanceStart = await maintenance(orm);
    const sampling = new AbortController();
    const dbSessions = sampleSessions(options.postgresUrl, database, sampling.signal);
    const cpuStart = sampleCpu('bench_relay');
    const commitMs: number[] = [];
    const inFlight = new Set<Promise<void>>();
    let written = 0;
    const started = performance.now();
    for (let tx = 0; tx < transactions && !options.signal.aborted; tx++) {
      const wait = started + tx * everyMs - performance.now();
      if (wait > 0) await sleep(wait);
      if (inFlight.size >= 50) await Promise.race(inFlight); // bounded if the database stalls
      const begun = performance.now();
      const write = writeOutbox(orm, perTransaction, perTransaction).then((ids) => {
        const now = Date.now();
        for (const id of ids) committedAt.set(id, now);
        commitMs.push(performance.now() - begun);
        written += perTransaction;
        inFlight.delete(write);
      });
      inFlight.add(write);
    }
    await Promise.all(inFlight);
    const writing = (performance.now() - started) / 1000;
    for (let waited = 0; latencies.length < written && waited < 30_000 && !options.signal.aborted; waited += 20) await sleep(20);
    const cpu = cpuBetween(cpuStart, sampleCpu('bench_relay'));
    sampling.abort();
    const maintenanceEnd = await maintenance(orm);
    const result: LatencyRun = {
      table,
      eventsPerSecondTarget: eventsPerSecond,
      eventsPerTransaction: perTransaction,
      transactionEveryMs: round(everyMs, 2),
      seconds,
      written,
      published: latencies.length,
      achievedEventsPerS: Math.round(written / writing),
      commitMs: distribution(commitMs),
      commitToPublishMs: distribution([...committedAt].flatMap(([id, at]) => (publishedAt.has(id) ? [Math.max(0, publishedAt.get(id)! - at)] : []))),
      recordedToPublishMs: distribution(latencies),
      batches,
      avgBatchSize: round(latencies.length / Math.max(1, batches)),
      machineBusyPct: cpu.machineBusyPct,
      otherPct: cpu.otherPct,
      autovacuums: maintenanceEnd.vacuums - maintenanceStart.vacuums,
      autoanalyzes: maintenanceEnd.analyzes - maintenanceStart.analyzes,
      dbSessions: await dbSessions,
    };
    options.log(
      `relay at ${result.achievedEventsPerS} events/s, ${table} outbox table: commit→publish p50 ${result.commitToPublishMs.p50} ms, p99 ${result.commitToPublishMs.p99} ms, max ${result.commitToPublishMs.max} ms; recorded→publish p99 ${result.recordedToPublishMs.p99} ms ` +
        `(${result.avgBatchSize} events/batch; writer commit p99 ${result.commitMs.p99} ms; machine busy ${cpu.machineBusyPct}%, others ${cpu.otherPct}% of a core; autovacuum ${result.autovacuums}, autoanalyze ${result.autoanalyzes}); sessions: ${Object.entries(result.dbSessions).slice(0, 5).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
    return result;
  } finally {
    await relay.stop();
  }
}
