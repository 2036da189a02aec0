// Part 2: checkout sagas end to end. The whole supergraph runs as separate processes (scripts/stack.ts);
// closed-loop virtual customers add to cart and place orders through the router, and this process
// observes each order's outcome on Kafka (orders.order.v1, status-changed events) with its own
// consumer group, never by polling the API.
import { topics } from '@shopgraph/events';
import { importJWK, SignJWT, type JWK } from 'jose';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { operation } from '../../e2e/operations.ts';
import { startStack, type Stack } from '../../scripts/stack.ts';
import { cpuBetween, loadAverage, sampleCpu, type CpuUsage } from './cpu.ts';
import { sampleSessions } from './pg-sessions.ts';
import { graphqlClient, type GraphQLResult } from './http.ts';
import { distribution, round, type Distribution } from './stats.ts';
import { sleep } from '@shopgraph/core/lifecycle';
import { scrapeMetrics } from '@shopgraph/testkit/metrics';

const FINAL = new Set(['CONFIRMED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED']);
const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const STAFF = { email: 'staff@bench.test', password: `bench-${randomBytes(8).toString('hex')}`, name: 'Bench Staff' };
/** The client operations of `--lean`: the same mutations, selecting what tracking an order needs. */
const LEAN = {
  addToCart: 'mutation AddToCart($input: AddToCartInput!) { addToCart(input: $input) { cart { id } errors { code message field } } }',
  applyCoupon: 'mutation ApplyCoupon($input: ApplyCouponInput!) { applyCoupon(input: $input) { cart { id } errors { code message field } } }',
  placeOrder: 'mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status } errors { code message field } } }',
};
/** A saga whose outcome has not been seen this long after placeOrder answered counts as timed out. */
const SAGA_TIMEOUT_MS = 30_000;

export interface SagaBenchOptions {
  concurrency: number[];
  warmupS: number;
  measureS: number;
  products: number;
  /** Every customer applies a coupon (unlimited uses) before placing: promotions reserves and commits a use per saga. */
  coupons: boolean;
  /** Fraud screening with one rule of each kind, none of which fires: payments screens every charge. */
  screening: boolean;
  /**
   * Customers select ids and status only (no product, price, coupon, payment or shipment fields):
   * the checkout's own cost, without the subgraph reads a web client's selections add.
   */
  lean: boolean;
  /**
   * Open loop: checkouts start at this rate (per second), at most `concurrency` under way, instead
   * of `concurrency` customers each waiting for their saga. Below saturation, a run's CPU per saga
   * then depends on the code, not on where a saturated pipeline's waves fall in the window.
   */
  rate?: number;
  /** Where the services write V8 CPU profiles (--cpu-prof), or undefined for none. */
  profileDir?: string;
  signal: AbortSignal;
  log: (message: string) => void;
}

interface Saga {
  orderId: string;
  level: number;
  addStart: number;
  placeStart: number;
  placeEnd: number;
  /** Per status: when orders committed it (the event's `at`) and when this process saw it. */
  statuses: Map<string, { at: number; seen: number }>;
  final?: { status: string; seen: number };
  settle?: () => void;
}

interface RequestSample {
  op: 'addToCart' | 'applyCoupon' | 'placeOrder';
  start: number;
  end: number;
  error?: string;
}

export interface LevelResult {
  concurrency: number;
  windowS: number;
  sagasPerS: number;
  confirmedInWindow: number;
  placedInWindow: number;
  requestsPerS: number;
  /** Of the orders placed in the window: how they ended (after the drain). */
  outcomes: Record<string, number>;
  inFlightAtWindowEnd: number;
  /** Open loop (`rate`): the rate, and the checkouts not started because `concurrency` were under way. */
  rate?: number;
  skippedCheckouts?: number;
  /** Time-averaged number of sagas between placeOrder's answer and their outcome during the window (Little's law: ≈ sagas/s × mean latency). */
  avgInFlight: number;
  /** CONFIRMED per second in consecutive 5 s slices of the window: is the rate sustained or bursty? */
  sagasPerSBy5s: number[];
  errorsInWindow: Record<string, number>;
  latencyMs: {
    placeOrderResponseToConfirmed: Distribution;
    placeOrderRequestToConfirmed: Distribution;
    addToCartRequestToConfirmed: Distribution;
    addToCart: Distribution;
    placeOrder: Distribution;
  };
  /**
   * Medians of the saga's legs. The status times are the events' `at`: set by orders inside the
   * transaction that records the status, just before its commit (ms resolution).
   */
  legsP50Ms: { orderCreatedToResponse: number; responseToStockReserved: number; stockReservedToConfirmed: number; confirmedToObserved: number };
  cpu: CpuUsage;
  /**
   * Work per CONFIRMED saga in the window: database transactions (commits + rollbacks) and rows
   * written per service database, Kafka messages produced per topic, Kafka requests by API, and
   * subgraph HTTP requests and the GraphQL operations they carried (a batched request carries several).
   */
  perSaga: {
    transactions: Record<string, number>;
    rowsWritten: Record<string, number>;
    kafkaMessages: Record<string, number>;
    /** Requests the services' Kafka clients sent, by API (the broker's work), and GraphQL requests each subgraph served over HTTP. */
    kafkaRequests: Record<string, number>;
    httpRequests: Record<string, number>;
    graphqlOperations: Record<string, number>;
  };
  /**
   * Postgres sessions of the services (pg_stat_activity, sampled every ~20 ms in the window): the
   * average number in each state. `active: Lock:object` at commit is the NOTIFY queue lock;
   * `idle in transaction` is a transaction waiting for its service (CPU-starved app or I/O).
   */
  dbSessions: Record<string, number>;
  loadAverage: { before: string; after: string };
  /** The window on the monotonic clock (µs) V8 CPU profiles use, to cut profiles to it. */
  windowMonotonicUs: [number, number];
}

export interface SagaBenchResult {
  topicPrefix: string;
  products: number;
  levels: LevelResult[];
  best: LevelResult | undefined;
  logs: string;
}

const now = (): number => performance.timeOrigin + performance.now();
/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export async function benchSagas(options: SagaBenchOptions): Promise<SagaBenchResult> {
  const { log, signal } = options;
  const prefix = `bench${randomBytes(4).toString('hex')}.`;
  let stack: Stack | undefined;
  let observer: Consumer | undefined;
  let admin: Admin | undefined;
  let client: ReturnType<typeof graphqlClient> | undefined;
  try {
    if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
    log(`starting the supergraph (every subgraph and the router as processes; topic prefix ${prefix})`);
    stack = await startStack({
      ports: 'free',
      databasePrefix: 'bench',
      fresh: true,
      dataDir: 'bench',
      env: {
        KAFKA_TOPIC_PREFIX: prefix,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        STAFF_EMAIL: STAFF.email,
        STAFF_PASSWORD: STAFF.password,
        STAFF_NAME: STAFF.name,
        ...(options.profileDir ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${options.profileDir}`.trim() } : {}),
      },
      log: (message) => log(`  stack: ${message}`),
    });
    if (signal.aborted) throw new Error('interrupted');
    const maxConcurrency = Math.max(...options.concurrency);
    client = graphqlClient(stack.routerUrl, { maxSockets: maxConcurrency * 2, timeoutMs: 30_000 });
    const call = client.post;

    const staff = await staffToken(call);
    const products = await seedProducts(call, staff, options.products);
    log(`seeded ${products.length} products with 100,000,000 units each`);
    if (options.coupons) log(`coupon ${await seedCoupon(call, staff)}: every customer applies it`);
    if (options.screening) log(`fraud screening: ${await seedFraudRules(call, staff)} rules, none firing`);
    const customer = await customerTokens(stack);

    // The observer: its own consumer group on orders.order.v1, from the beginning (nothing is missed while it joins).
    const sagas = new Map<string, Saga>();
    const early = new Map<string, Saga['statuses']>(); // events seen before placeOrder answered
    const kafka = new Kafka({ clientId: 'bench-observer', brokers: stack.kafkaBrokers, logLevel: logLevel.WARN });
    observer = kafka.consumer({ groupId: `${prefix}bench.observer`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
    const joined = new Promise<void>((resolve) => observer!.on(observer!.events.GROUP_JOIN, () => resolve()));
    await observer.connect();
    await observer.subscribe({ topic: `${prefix}orders.order.v1`, fromBeginning: true });
    await observer.run({
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch }) => {
        const seen = now();
        for (const message of batch.messages) {
          if (message.headers?.['event-type']?.toString() !== 'orders.order.status-changed' || !message.value) continue;
          const { data } = JSON.parse(message.value.toString()) as { data: { orderId: string; status: string; at: string } };
          const saga = sagas.get(data.orderId);
          const statuses = saga?.statuses ?? early.get(data.orderId) ?? new Map();
          if (!saga) early.set(data.orderId, statuses);
          if (!statuses.has(data.status)) statuses.set(data.status, { at: Date.parse(data.at), seen });
          if (saga && FINAL.has(data.status) && !saga.final) {
            saga.final = { status: data.status, seen };
            saga.settle?.();
          }
        }
      },
    });
    await Promise.race([joined, sleep(30_000, signal)]);
    admin = kafka.admin();
    await admin.connect();
    // Statistics are read from the server's `postgres` database, so these sessions are not counted as a service's.
    const statsDb = new URL(stack.databaseUrls['accounts']!);
    statsDb.pathname = '/postgres';
    const admin_ = admin;
    const { subgraphUrls } = stack;
    const counters = () => readCounters(statsDb.href, admin_, prefix, subgraphUrls);
    const sessions = (until: AbortSignal) => sampleSessions(statsDb.href, 'bench\\_%', until);

    const levels: LevelResult[] = [];
    for (const concurrency of options.concurrency) {
      if (signal.aborted) break;
      levels.push(await runLevel({ concurrency, call, products, customer, sagas, early, counters, sessions, options }));
    }
    if (options.profileDir) {
      // Which profile is which: the services' pids by name (the profiles are named CPU.<date>.<time>.<pid>.*).
      const pids = Object.fromEntries([...sampleCpu('bench_').procs].filter(([, p]) => !p.label.startsWith('postgres') && !p.label.startsWith('kafka')).map(([pid, p]) => [pid, p.label]));
      const windows = levels.map((l) => ({ concurrency: l.concurrency, sagasPerS: l.sagasPerS, monotonicUs: l.windowMonotonicUs }));
      writeFileSync(join(options.profileDir, 'run.json'), `${JSON.stringify({ pids, windows }, null, 2)}\n`);
    }
    const best = levels.reduce<LevelResult | undefined>((a, b) => (!a || b.sagasPerS > a.sagasPerS ? b : a), undefined);
    return { topicPrefix: prefix, products: products.length, levels, best, logs: stack.logs };
  } finally {
    await admin?.disconnect().catch(() => {});
    await observer?.disconnect().catch(() => {});
    client?.close();
    if (stack) {
      log('stopping the supergraph');
      await stack.stop().catch((error: unknown) => log(`stopping the stack failed: ${String(error)}`));
    }
  }
}

interface Counters {
  db: Map<string, { xacts: number; rows: number }>;
  topics: Map<string, number>;
  /** Requests to Kafka by API, summed over the services' clients. */
  kafkaRequests: Map<string, number>;
  /** HTTP requests each subgraph served GraphQL on (from the router and from other subgraphs), and the operations they carried. */
  httpRequests: Map<string, number>;
  graphqlOperations: Map<string, number>;
}

/**
 * Transactions and written rows per bench_* database (pg_stat_database), messages per topic (high
 * watermarks), and from each subgraph's /metrics its Kafka requests and the GraphQL requests it served.
 */
async function readCounters(databaseUrl: string, admin: Admin, prefix: string, subgraphUrls: Record<string, string>): Promise<Counters> {
  const kafkaRequests = new Map<string, number>();
  const httpRequests = new Map<string, number>();
  const graphqlOperations = new Map<string, number>();
  await Promise.all(
    Object.entries(subgraphUrls).map(async ([name, url]) => {
      const metrics = await scrapeMetrics(url);
      httpRequests.set(name, metrics.value('shopgraph_graphql_http_requests_total') || 0);
      graphqlOperations.set(name, metrics.value('shopgraph_graphql_requests_total') || 0);
      for (const { labels, value } of metrics.series('shopgraph_kafka_requests_total')) kafkaRequests.set(labels['api']!, (kafkaRequests.get(labels['api']!) ?? 0) + value);
    }),
  );
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    // Statistics reach pg_stat_database within about a second of a transaction's end.
    const { rows } = await db.query<{ datname: string; xacts: string; rows: string }>(
      `select datname, xact_commit + xact_rollback as xacts, tup_inserted + tup_updated + tup_deleted as rows from pg_stat_database where datname like 'bench\\_%'`,
    );
    const counts = new Map(rows.map((r) => [r.datname.replace(/^bench_/, ''), { xacts: Number(r.xacts), rows: Number(r.rows) }]));
    const offsets = new Map<string, number>();
    for (const topic of topics) {
      const partitions = await admin.fetchTopicOffsets(`${prefix}${topic}`).catch(() => []);
      offsets.set(topic, partitions.reduce((sum, p) => sum + Number(p.high), 0));
    }
    return { db: counts, topics: offsets, kafkaRequests, httpRequests, graphqlOperations };
  } finally {
    await db.end();
  }
}

function perSaga(before: Counters, after: Counters, sagas: number): LevelResult['perSaga'] {
  const per = (n: number) => (sagas > 0 ? round(n / sagas, 2) : Number.NaN);
  const transactions: Record<string, number> = {};
  const rowsWritten: Record<string, number> = {};
  for (const [name, end] of after.db) {
    const start = before.db.get(name) ?? { xacts: 0, rows: 0 };
    if (end.xacts - start.xacts === 0) continue;
    transactions[name] = per(end.xacts - start.xacts);
    rowsWritten[name] = per(end.rows - start.rows);
  }
  const between = (from: Map<string, number>, to: Map<string, number>): Record<string, number> =>
    Object.fromEntries([...to].filter(([key, end]) => end - (from.get(key) ?? 0) > 0).map(([key, end]) => [key, per(end - (from.get(key) ?? 0))]));
  return {
    transactions,
    rowsWritten,
    kafkaMessages: between(before.topics, after.topics),
    kafkaRequests: between(before.kafkaRequests, after.kafkaRequests),
    httpRequests: between(before.httpRequests, after.httpRequests),
    graphqlOperations: between(before.graphqlOperations, after.graphqlOperations),
  };
}

type Call = (query: string, variables: Record<string, unknown>, token?: string) => Promise<GraphQLResult>;

function must(result: GraphQLResult, field: string) {
  if (result.errors?.length) throw new Error(`seed: ${result.errors.map((e) => e.message).join('; ')}`);
  const payload = result.data?.[field];
  if (payload?.errors?.length) throw new Error(`seed: ${field}: ${JSON.stringify(payload.errors)}`);
  return payload;
}

async function staffToken(call: Call): Promise<string> {
  return must(await call(operation('Login'), { input: { email: STAFF.email, password: STAFF.password } }), 'login').accessToken;
}

const BENCH_COUPON = 'BENCH5';

/** A coupon anyone may use any number of times: 5 % off. */
async function seedCoupon(call: Call, staff: string): Promise<string> {
  must(await call(operation('CreateCoupon'), { input: { code: BENCH_COUPON, description: 'Benchmark coupon', kind: 'PERCENTAGE', percentOff: 5 } }, staff), 'createCoupon');
  return BENCH_COUPON;
}

/** One rule of each kind, with thresholds the benchmark's orders never reach. */
async function seedFraudRules(call: Call, staff: string): Promise<number> {
  const rules = [
    { name: 'Customer velocity', kind: 'CUSTOMER_VELOCITY', maxOrders: 100, windowSeconds: 3600 },
    { name: 'Card velocity', kind: 'CARD_VELOCITY', maxOrders: 10_000, windowSeconds: 1 },
    { name: 'Large orders', kind: 'AMOUNT_OVER', amount: { amount: 10_000_000, currency: 'USD' } },
    { name: 'Embargoed destinations', kind: 'SHIPPING_COUNTRY', countries: ['KP', 'IR'] },
  ];
  for (const input of rules) must(await call(operation('CreateFraudRule'), { input }, staff), 'createFraudRule');
  return rules.length;
}

async function seedProducts(call: Call, staff: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const sku = `BENCH-${randomBytes(3).toString('hex')}-${n}`;
    const created = must(await call(operation('CreateProduct'), { input: { sku, name: `Bench product ${n}`, price: { amount: 1_000 + n * 100, currency: 'USD' } } }, staff), 'createProduct');
    ids.push(created.product.id);
    must(await call(operation('SetStock'), { input: { productId: created.product.id, quantity: 100_000_000 } }, staff), 'setStock');
  }
  return ids;
}

/**
 * Customer tokens signed with the accounts service's own key, as e2e/support.ts does: a new
 * customer per call (so each saga starts with an empty cart), or the one given.
 */
export async function customerTokens(stack: Stack): Promise<(subject?: string) => Promise<string>> {
  const db = new pg.Client({ connectionString: stack.databaseUrls['accounts'] });
  await db.connect();
  let jwk: JWK;
  try {
    jwk = (await db.query<{ private_jwk: JWK }>('select private_jwk from signing_key order by created_at desc limit 1')).rows[0]!.private_jwk;
  } finally {
    await db.end();
  }
  const key = await importJWK(jwk, jwk.alg);
  const issuer = new URL(stack.subgraphUrls['accounts']!).origin; // the stack's JWT_ISSUER
  return (subject = crypto.randomUUID()) =>
    new SignJWT({ scope: 'customer' })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid! })
      .setIssuer(issuer)
      .setAudience('shopgraph')
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);
}

interface LevelInput {
  concurrency: number;
  call: Call;
  products: string[];
  customer: () => Promise<string>;
  sagas: Map<string, Saga>;
  early: Map<string, Saga['statuses']>;
  counters: () => Promise<Counters>;
  sessions: (until: AbortSignal) => Promise<Record<string, number>>;
  options: SagaBenchOptions;
}

async function runLevel(input: LevelInput): Promise<LevelResult> {
  const { concurrency, call, products, customer, sagas, early, counters, sessions, options } = input;
  const { log, signal } = options;
  const addToCart = options.lean ? LEAN.addToCart : operation('AddToCart');
  const applyCoupon = options.lean ? LEAN.applyCoupon : operation('ApplyCoupon');
  const placeOrder = options.lean ? LEAN.placeOrder : operation('PlaceOrder');
  const mine: Saga[] = [];
  const requests: RequestSample[] = [];
  let stopping = false;
  const loadBefore = loadAverage();

  const errorOf = (result: GraphQLResult, field: string): string | undefined => {
    if (result.errors?.length) return result.errors.map((e) => e.extensions?.code ?? e.message).join(',');
    const payload = result.data?.[field];
    if (!payload) return 'no payload';
    if (payload.errors?.length) return payload.errors.map((e: { code: string }) => e.code).join(',');
    return undefined;
  };

  /** One customer's checkout: addToCart → (applyCoupon) → placeOrder → its outcome; after a refused step, a 100 ms pause. */
  const checkout = async (): Promise<void> => {
    const token = await customer();
    const productId = products[Math.floor(Math.random() * products.length)]!;
    const addStart = now();
    let problem: string | undefined;
    try {
      problem = errorOf(await call(addToCart, { input: { productId, quantity: 1 } }, token), 'addToCart');
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    const addEnd = now();
    requests.push({ op: 'addToCart', start: addStart, end: addEnd, ...(problem ? { error: `addToCart: ${problem}` } : {}) });
    if (problem) {
      await sleep(100, signal);
      return;
    }
    if (options.coupons) {
      const applyStart = now();
      try {
        problem = errorOf(await call(applyCoupon, { input: { code: BENCH_COUPON } }, token), 'applyCoupon');
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      requests.push({ op: 'applyCoupon', start: applyStart, end: now(), ...(problem ? { error: `applyCoupon: ${problem}` } : {}) });
      if (problem) {
        await sleep(100, signal);
        return;
      }
    }
    const placeStart = now();
    let orderId: string | undefined;
    try {
      const placed = await call(placeOrder, { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: ADDRESS, paymentMethod: 'pm_card_visa' } }, token);
      problem = errorOf(placed, 'placeOrder');
      orderId = placed.data?.['placeOrder']?.order?.id;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    const placeEnd = now();
    requests.push({ op: 'placeOrder', start: placeStart, end: placeEnd, ...(problem || !orderId ? { error: `placeOrder: ${problem ?? 'no order'}` } : {}) });
    if (problem || !orderId) {
      await sleep(100, signal);
      return;
    }
    const saga: Saga = { orderId, level: concurrency, addStart, placeStart, placeEnd, statuses: early.get(orderId) ?? new Map() };
    early.delete(orderId);
    for (const [status, at] of saga.statuses) if (FINAL.has(status) && !saga.final) saga.final = { status, seen: at.seen };
    sagas.set(orderId, saga);
    mine.push(saga);
    if (!saga.final) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, SAGA_TIMEOUT_MS);
        function finish(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', finish);
          saga.settle = undefined;
          resolve();
        }
        saga.settle = finish;
        signal.addEventListener('abort', finish, { once: true });
      });
    }
  };

  // Closed loop over the whole saga: each customer waits for its order's outcome before the next checkout.
  const virtualCustomer = async (): Promise<void> => {
    while (!stopping && !signal.aborted) await checkout();
  };

  // Open loop: checkouts start on a fixed schedule, at most `concurrency` at once (one due then is skipped).
  let skipped = 0;
  const arrivals = async (rate: number): Promise<void> => {
    const open = new Set<Promise<void>>();
    for (let due = now(); !stopping && !signal.aborted; due += 1000 / rate) {
      if (open.size < concurrency) {
        const started: Promise<void> = checkout().finally(() => open.delete(started));
        open.add(started);
      } else skipped++;
      await sleep(Math.max(0, due + 1000 / rate - now()), signal);
    }
    await Promise.all(open);
  };

  log(`concurrency ${concurrency}${options.rate ? `, open loop at ${options.rate} checkouts/s` : ''}: warm-up ${options.warmupS} s, then ${options.measureS} s measured`);
  const customers = options.rate ? [arrivals(options.rate)] : Array.from({ length: concurrency }, () => virtualCustomer());
  await sleep(options.warmupS * 1000, signal);
  const countersStart = await counters();
  const cpuStart = sampleCpu('bench_');
  const windowStart = now();
  const monotonicStart = monotonicUs();
  const windowOver = new AbortController();
  const dbSessions = sessions(windowOver.signal);
  await sleep(options.measureS * 1000, signal);
  windowOver.abort();
  const windowEnd = now();
  const monotonicEnd = monotonicUs();
  const cpu = cpuBetween(cpuStart, sampleCpu('bench_'));
  const countersEnd = await counters();
  const loadAfter = loadAverage();
  stopping = true;
  // Drain: every customer finishes (or times out) the saga it is in.
  await Promise.race([Promise.all(customers), sleep(SAGA_TIMEOUT_MS + 5_000)]);

  const windowS = (windowEnd - windowStart) / 1000;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;
  const confirmedInWindow = mine.filter((s) => s.final?.status === 'CONFIRMED' && inWindow(s.final.seen)).length;
  const placed = mine.filter((s) => inWindow(s.placeEnd));
  const outcomes: Record<string, number> = {};
  for (const saga of placed) {
    const outcome = saga.final?.status ?? 'TIMED_OUT';
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  const overlap = (from: number, to: number) => Math.max(0, Math.min(to, windowEnd) - Math.max(from, windowStart));
  const avgInFlight = mine.reduce((sum, s) => sum + overlap(s.placeEnd, s.final?.seen ?? Number.POSITIVE_INFINITY), 0) / (windowEnd - windowStart);
  const slices = Math.max(1, Math.floor((windowEnd - windowStart) / 5000));
  const sagasPerSBy5s = Array.from({ length: slices }, (_, i) => {
    const [from, to] = [windowStart + i * 5000, windowStart + (i + 1) * 5000];
    return round(mine.filter((s) => s.final?.status === 'CONFIRMED' && s.final.seen >= from && s.final.seen < to).length / 5);
  });
  const inFlightAtWindowEnd = mine.filter((s) => s.placeEnd < windowEnd && !(s.final && s.final.seen < windowEnd)).length;
  const windowRequests = requests.filter((r) => inWindow(r.end));
  const errorsInWindow: Record<string, number> = {};
  for (const r of windowRequests) if (r.error) errorsInWindow[r.error] = (errorsInWindow[r.error] ?? 0) + 1;
  const confirmed = placed.filter((s) => s.final?.status === 'CONFIRMED');
  const ok = (op: RequestSample['op']) => windowRequests.filter((r) => r.op === op && !r.error).map((r) => r.end - r.start);
  const legs = (from: (s: Saga) => number | undefined, to: (s: Saga) => number | undefined) =>
    distribution(confirmed.map((s) => [from(s), to(s)]).filter((p): p is [number, number] => p[0] !== undefined && p[1] !== undefined).map(([a, b]) => b - a)).p50;

  const result: LevelResult = {
    concurrency,
    windowS: round(windowS),
    sagasPerS: round(confirmedInWindow / windowS),
    confirmedInWindow,
    placedInWindow: placed.length,
    requestsPerS: round(windowRequests.length / windowS),
    outcomes,
    inFlightAtWindowEnd,
    ...(options.rate && { rate: options.rate, skippedCheckouts: skipped }),
    avgInFlight: round(avgInFlight),
    sagasPerSBy5s,
    errorsInWindow,
    latencyMs: {
      placeOrderResponseToConfirmed: distribution(confirmed.map((s) => s.final!.seen - s.placeEnd)),
      placeOrderRequestToConfirmed: distribution(confirmed.map((s) => s.final!.seen - s.placeStart)),
      addToCartRequestToConfirmed: distribution(confirmed.map((s) => s.final!.seen - s.addStart)),
      addToCart: distribution(ok('addToCart')),
      placeOrder: distribution(ok('placeOrder')),
    },
    legsP50Ms: {
      orderCreatedToResponse: legs((s) => s.statuses.get('PENDING')?.at, (s) => s.placeEnd),
      responseToStockReserved: legs((s) => s.placeEnd, (s) => s.statuses.get('STOCK_RESERVED')?.at),
      stockReservedToConfirmed: legs((s) => s.statuses.get('STOCK_RESERVED')?.at, (s) => s.statuses.get('CONFIRMED')?.at),
      confirmedToObserved: legs((s) => s.statuses.get('CONFIRMED')?.at, (s) => s.final?.seen),
    },
    cpu,
    perSaga: perSaga(countersStart, countersEnd, confirmedInWindow),
    dbSessions: await dbSessions,
    loadAverage: { before: loadBefore, after: loadAfter },
    windowMonotonicUs: [monotonicStart, monotonicEnd],
  };
  const l = result.latencyMs.placeOrderResponseToConfirmed;
  log(
    `concurrency ${concurrency}: ${result.sagasPerS} sagas/s CONFIRMED; placeOrder→CONFIRMED p50 ${l.p50} ms p99 ${l.p99} ms; ` +
      `placeOrder p50 ${result.latencyMs.placeOrder.p50} ms;${options.rate ? ` checkouts skipped (${concurrency} under way): ${skipped};` : ''} per 5 s: ${sagasPerSBy5s.join(' ')}; in flight avg ${result.avgInFlight}, at end ${inFlightAtWindowEnd}; outcomes ${JSON.stringify(outcomes)}; errors ${JSON.stringify(errorsInWindow)}; machine busy ${cpu.machineBusyPct}%`,
  );
  return result;
}
