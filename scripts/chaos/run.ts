// One chaos run: its own stack, seeded checkouts and a seeded fault schedule at once, then every
// saga to its end and the databases reconciled. scripts/chaos.ts is the CLI; e2e/chaos.e2e.test.ts
// runs a small one.
import { queryOnce, repoDirs } from '@shopgraph/infra';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { graphqlClient } from '../../bench/saga/http.ts';
import { customerTokens } from '../../bench/saga/saga-load.ts';
import { operation } from '../../e2e/operations.ts';
import { kafkaAccess } from '../kafka-access.ts';
import { startStack, type Stack } from '../stack.ts';
import { driveCheckouts, planCheckouts, type Call, type CheckoutResult } from './driver.ts';
import { planFaults, runFault, type FaultKind, type FaultRecord } from './faults.ts';
import { seededRandom } from './random.ts';
import { FINAL_STATUSES, POISON_HEADER, reconcile, type Invariant, type Poison, type Reconciliation } from './reconcile.ts';

export interface ChaosOptions {
  checkouts: number;
  seed: number;
  faults: number;
  /** The kinds to draw from; each appears at least once when `faults` allows. */
  kinds: readonly FaultKind[];
  concurrency: number;
  /** Poison messages published straight to saga topics, spread over the run. */
  poison: number;
  /** Real events published a second time (the same ids), which the consumers must absorb. */
  duplicates: number;
  /** About this long between one fault's end and the next one's start (recovery is measured in between). */
  spacingS: number;
  /** Where the stack keeps its data and logs, under .data/; removed after a run that passed. */
  dataDir: string;
  databasePrefix: string;
  /** An Elasticsearch to use instead of the stack's own (then `elasticsearch-stop` cannot be a fault). */
  elasticsearchUrl?: string;
  /** How long, after the last checkout, every saga has to reach a final status and every invariant to hold. */
  settleTimeoutMs: number;
  log: (message: string) => void;
}

/** The result of a run (written as JSON by scripts/chaos.ts; its shape is documented there). */
export interface ChaosResult {
  version: 1;
  ok: boolean;
  seed: number;
  options: { checkouts: number; faults: number; concurrency: number; kinds: FaultKind[]; poison: number; duplicates: number };
  startedAt: string;
  durationS: number;
  invariants: Invariant[];
  faults: FaultRecord[];
  recovery: { p50Ms: number | null; maxMs: number | null; notRecovered: number };
  checkouts: { planned: number; placed: number; refused: number; gaveUp: number; canaries: number; cancelRequested: number; cancelled: number; retries: number };
  /** Why checkouts placed no order, by reason (the last error seen), most frequent first. */
  unplaced: Record<string, number>;
  outcomes: Record<string, number>;
  cancelledBySagaTimeout: number;
  duplicates: { injected: number; absorbed: number; byGroup: Record<string, number> };
  poison: { sent: number; deadLetterTopics: number };
  /** The stack's logs (kept when the run failed). */
  logs: string;
}

const STAFF = { email: 'staff@chaos.test', password: `chaos-${randomBytes(8).toString('hex')}`, name: 'Chaos Staff' };
const COUPON = 'CHAOS10';
const PRODUCTS = 6;

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { log } = options;
  const startedAt = new Date();
  const prefix = `chaos${randomBytes(3).toString('hex')}.`;
  const dataDir = join(repoDirs().data, options.dataDir);
  rmSync(dataDir, { recursive: true, force: true });
  let stack: Stack | undefined;
  let ok = false;
  const client = { close: () => {} };
  try {
    log(`starting the supergraph with its own Kafka, Redis${options.elasticsearchUrl ? '' : ' and Elasticsearch'} (topic prefix ${prefix})`);
    stack = await startStack({
      ports: 'free',
      databasePrefix: options.databasePrefix,
      fresh: true,
      dataDir: options.dataDir,
      ownInfrastructure: true,
      ...(options.elasticsearchUrl ? { elasticsearchUrl: options.elasticsearchUrl } : {}),
      env: {
        KAFKA_TOPIC_PREFIX: prefix,
        ELASTICSEARCH_INDEX_PREFIX: prefix,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        STAFF_EMAIL: STAFF.email,
        STAFF_PASSWORD: STAFF.password,
        STAFF_NAME: STAFF.name,
      },
      log: (message) => log(`  stack: ${message}`),
    });
    const running = stack;
    const http = graphqlClient(stack.routerUrl, { maxSockets: options.concurrency * 2 + 4, timeoutMs: 15_000 });
    client.close = http.close;
    const call: Call = http.post;

    // Seed: products (the first one scarce), their stock, an unlimited 10 % coupon.
    const staff = (await call(operation('Login'), { input: { email: STAFF.email, password: STAFF.password } })).data?.['login']?.accessToken as string;
    if (!staff) throw new Error('staff login failed');
    const initialStock = new Map<string, number>();
    const products: string[] = [];
    for (let i = 0; i < PRODUCTS; i++) {
      const created = await call(operation('CreateProduct'), { input: { sku: `CHAOS-${prefix.slice(5, 11)}-${i}`, name: `Chaos product ${i}`, price: { amount: 1_000 + i * 250, currency: 'USD' } } }, staff);
      const id = created.data?.['createProduct']?.product?.id as string | undefined;
      if (!id) throw new Error(`createProduct failed: ${JSON.stringify(created.errors ?? created.data)}`);
      const quantity = i === 0 ? Math.max(5, Math.round(options.checkouts * 0.05)) : options.checkouts * 3;
      const stocked = await call(operation('SetStock'), { input: { productId: id, quantity } }, staff);
      if (stocked.errors?.length || stocked.data?.['setStock']?.errors?.length) throw new Error(`setStock failed: ${JSON.stringify(stocked)}`);
      products.push(id);
      initialStock.set(id, quantity);
    }
    const coupon = await call(operation('CreateCoupon'), { input: { code: COUPON, description: 'Chaos coupon', kind: 'PERCENTAGE', percentOff: 10 } }, staff);
    if (coupon.errors?.length || coupon.data?.['createCoupon']?.errors?.length) throw new Error(`createCoupon failed: ${JSON.stringify(coupon)}`);
    log(`seeded ${PRODUCTS} products (the first with ${initialStock.get(products[0]!)} units, the others ${options.checkouts * 3}) and coupon ${COUPON}`);

    // The plans: two PRNG streams from the seed, so the schedule does not change with K.
    const faults = planFaults(seededRandom(options.seed), { count: options.faults, kinds: options.kinds, spacingS: options.spacingS, firstAtS: Math.min(10, options.spacingS) });
    const plans = planCheckouts(seededRandom(options.seed ^ 0x5eed), { count: options.checkouts, products, couponShare: 0.2, cancelShare: 0.08, concurrency: options.concurrency });
    const scheduleS = faults.length ? faults.at(-1)!.atS + faults.at(-1)!.downS + options.spacingS : 30;
    log(`fault schedule (seed ${options.seed}), over about ${Math.round(scheduleS)} s of load:`);
    for (const f of faults) log(`  #${String(f.n).padStart(2)} at ${String(f.atS).padStart(6)} s  ${f.kind.padEnd(18)} ${f.target.padEnd(13)} down ${f.downS} s`);

    const token = await customerTokens(running);
    const kafka = new Kafka({ clientId: 'chaos', brokers: running.kafkaBrokers, logLevel: logLevel.NOTHING });
    const metrics = duplicateCounter(running);
    const scraping = metrics.every(3000);

    // The load, spread over the schedule; the faults; poison and duplicates along the way.
    const loadStart = Date.now();
    const canaries: CheckoutResult[] = [];
    const intervalMs = (scheduleS * 1000) / Math.max(1, options.checkouts);
    const driving = driveCheckouts({ call, plans, concurrency: options.concurrency, couponCode: COUPON, token, notBeforeMs: (n) => n * intervalMs, deadlineMs: 120_000, log });
    let driverDone = false;
    void driving.then(() => (driverDone = true), () => (driverDone = true));
    const records: FaultRecord[] = [];
    const drains: Promise<void>[] = [];
    const faulting = (async () => {
      for (const fault of faults) {
        const wait = loadStart + fault.atS * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
        log(`fault #${fault.n}: ${fault.kind} ${fault.target} (down ${fault.downS} s)`);
        const { record, drained } = await runFault(fault, (Date.now() - loadStart) / 1000, {
          stack: running,
          log,
          beforeKill: (target) => metrics.scrape(target),
          firstSagaDoneAfter: async (since, timeoutMs) => {
            // A canary checkout makes sure an order is placed after the fault even when the load is over.
            const canary = driverDone ? canaryCheckout(call, token, products[1]!, since, canaries) : Promise.resolve();
            const done = await firstSagaDoneAfter(running.databaseUrls['orders']!, since, timeoutMs);
            await canary;
            return done;
          },
          sagasBeforeDone: (before, timeoutMs) => sagasBeforeDone(running.databaseUrls['orders']!, before, timeoutMs),
          recoveryTimeoutMs: 120_000,
        });
        records.push(record);
        drains.push(drained);
        log(`  → ready ${record.readyMs ?? '—'} ms, next saga done ${record.recoveryMs ?? 'never'} ms after${record.note ? `; ${record.note}` : ''}${record.error ? `; ERROR ${record.error}` : ''}`);
      }
    })();
    const topicsWithGroups = poisonTargets(Object.keys(running.subgraphUrls));
    const poison: Poison[] = [];
    const injecting = (async () => {
      const random = seededRandom(options.seed ^ 0x9015);
      for (let i = 0; i < options.poison; i++) {
        await sleep(Math.max(0, loadStart + ((i + 1) / (options.poison + 1)) * scheduleS * 1000 - Date.now()));
        const [topic, groups] = random.pick(topicsWithGroups);
        const id = `poison-${i + 1}`;
        const value = i % 2 === 0 ? '{"this is": "not an envelope"' : JSON.stringify({ id: 'not-a-uuid', type: 'orders.order.placed', data: { orderId: 42 } });
        await send(kafka, `${prefix}${topic}`, [{ key: id, value, headers: { [POISON_HEADER]: id } }]);
        poison.push({ id, topic, groups });
      }
    })();
    let injected = 0;
    const duplicating = (async () => {
      if (options.duplicates <= 0) return;
      await sleep(Math.max(0, loadStart + scheduleS * 500 - Date.now()));
      for (const deadline = Date.now() + 120_000; injected === 0 && Date.now() < deadline; ) injected = await republish(kafka, `${prefix}orders.order.v1`, options.duplicates).catch(() => sleep(1000).then(() => 0));
      log(`published ${injected} events of orders.order.v1 a second time (same ids)`);
    })();

    const checkouts = await driving;
    log(`all ${checkouts.length} checkouts done (${checkouts.filter((c) => c.orderId).length} placed); waiting for the fault schedule`);
    await Promise.all([faulting, injecting, duplicating]);
    await Promise.all(drains);

    // Every saga to a final status, then the invariants until they hold (compensations run late).
    const settleDeadline = Date.now() + options.settleTimeoutMs;
    await waitForFinalStatuses(running.databaseUrls['orders']!, settleDeadline, log);
    let reconciliation: Reconciliation;
    for (;;) {
      await metrics.scrape();
      reconciliation = await reconcile({
        databaseUrls: running.databaseUrls,
        checkouts: [...checkouts, ...canaries],
        initialStock,
        couponCode: COUPON,
        poisonAsked: options.poison,
        poison,
        kafkaBrokers: running.kafkaBrokers,
        topicPrefix: prefix,
        duplicatesAbsorbed: metrics.total(),
        consumerGroups: idempotentGroups(Object.keys(running.subgraphUrls)),
      });
      if (reconciliation.invariants.every((i) => i.ok) || Date.now() > settleDeadline) break;
      log(`not settled yet: ${reconciliation.invariants.filter((i) => !i.ok).map((i) => `${i.name} ${i.value}`).join('; ')}`);
      await sleep(3000);
    }
    scraping.stop();

    const notRecovered = records.filter((r) => r.recoveryMs === null || r.error);
    const invariants: Invariant[] = [
      ...reconciliation.invariants,
      {
        name: 'faults not recovered from (no saga completed within 120 s)',
        value: notRecovered.length,
        expected: '= 0',
        ok: notRecovered.length === 0,
        ...(notRecovered.length ? { detail: notRecovered.map((r) => `#${r.n} ${r.kind} ${r.target}${r.error ? `: ${r.error}` : ''}`).join('; ') } : {}),
      },
    ];
    const recoveries = records.map((r) => r.recoveryMs).filter((ms): ms is number => ms !== null).sort((a, b) => a - b);
    ok = invariants.every((i) => i.ok);
    return {
      version: 1,
      ok,
      seed: options.seed,
      options: { checkouts: options.checkouts, faults: options.faults, concurrency: options.concurrency, kinds: [...options.kinds], poison: options.poison, duplicates: options.duplicates },
      startedAt: startedAt.toISOString(),
      durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
      invariants,
      faults: records,
      recovery: { p50Ms: recoveries[Math.floor(recoveries.length / 2)] ?? null, maxMs: recoveries.at(-1) ?? null, notRecovered: notRecovered.length },
      checkouts: {
        planned: plans.length,
        placed: checkouts.filter((c) => c.outcome === 'placed').length,
        refused: checkouts.filter((c) => c.outcome === 'refused').length,
        gaveUp: checkouts.filter((c) => c.outcome === 'gave-up').length,
        canaries: canaries.length,
        cancelRequested: checkouts.filter((c) => c.cancelled).length,
        cancelled: checkouts.filter((c) => c.cancelled === 'cancelled').length,
        retries: checkouts.reduce((sum, c) => sum + c.retries, 0),
      },
      unplaced: countReasons(checkouts.filter((c) => c.outcome !== 'placed').map((c) => `${c.outcome}: ${c.error ?? '?'}`)),
      outcomes: reconciliation.outcomes,
      cancelledBySagaTimeout: reconciliation.cancelledBySagaTimeout,
      duplicates: { injected, absorbed: metrics.total(), byGroup: metrics.byGroup() },
      poison: { sent: poison.length, deadLetterTopics: new Set(poison.flatMap((p) => p.groups)).size },
      logs: ok ? '(removed: the run passed)' : stack.logs,
    };
  } finally {
    client.close();
    if (stack) {
      log('stopping the supergraph');
      await stack.stop().catch((error: unknown) => log(`stopping the stack failed: ${String(error)}`));
      // A run that passed leaves nothing behind; a failed one keeps its logs, data and databases to look at.
      if (ok) {
        await stack.dropDatabases();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
}

/**
 * Sends until Kafka takes it (the broker may be down for a fault), with a producer of its own
 * each time: an idle kafkajs producer whose broker died rejects where nobody listens.
 */
async function send(kafka: Kafka, topic: string, messages: Message[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    try {
      await producer.connect();
      await producer.send({ topic, messages });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(1000);
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }
}

/** Topics a saga consumer reads, each with the (non-broadcast) groups that read it: where poison goes. */
function poisonTargets(services: string[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const access of kafkaAccess(services)) {
    for (const consumer of access.consumers.filter((c) => !c.broadcast)) for (const topic of consumer.topics) groups.set(topic, [...(groups.get(topic) ?? []), consumer.group]);
  }
  return [...groups].filter(([topic]) => /^(orders|inventory|payments)\./.test(topic));
}

/** The stack's idempotent (non-broadcast) consumer groups, from the code (scripts/kafka-access.ts). */
function idempotentGroups(services: string[]): string[] {
  return kafkaAccess(services).flatMap((a) => a.consumers.filter((c) => !c.broadcast).map((c) => c.group));
}

/** Reads the first `count` messages of a topic and publishes them again as they were. */
async function republish(kafka: Kafka, topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `${topic}.chaos-republish.${Date.now()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  const taken: Message[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000);
      consumer.run({
        eachMessage: async ({ message }) => {
          if (taken.length >= count) return;
          taken.push({ key: message.key, value: message.value, headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.from(String(v))])) });
          if (taken.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(() => resolve()); // the broker went away: what was taken is sent
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
  await send(kafka, topic, taken);
  return taken.length;
}

/** The time (epoch ms) the first order created at or after `since` reached a final status, or null. */
async function firstSagaDoneAfter(ordersUrl: string, since: number, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await queryOnce<{ at: number | null }>(ordersUrl, `select (extract(epoch from min(status_changed_at)) * 1000)::float8 as at from customer_order where created_at >= $1 and status = any($2)`, [new Date(since), FINAL_STATUSES]).catch(() => []);
    if (rows[0]?.at) return rows[0].at;
    await sleep(250);
  }
  return null;
}

/** One checkout of one unit by a new customer, retried until placed: an order after a fault even when the load is over. */
async function canaryCheckout(call: Call, token: (customer: string) => Promise<string>, productId: string, since: number, into: CheckoutResult[]): Promise<void> {
  const results = await driveCheckouts({
    call,
    plans: [{ n: -1 - into.length, customer: crypto.randomUUID(), lines: [{ productId, quantity: 1 }], card: 'pm_card_visa', coupon: false, cancelAfterMs: null }],
    concurrency: 1,
    couponCode: COUPON,
    token,
    notBeforeMs: () => Math.max(0, since - Date.now()),
    deadlineMs: 120_000,
    log: () => {},
  });
  into.push(...results);
}

/** The time (epoch ms) when no order created before `before` is unfinished any more, or null. */
async function sagasBeforeDone(ordersUrl: string, before: number, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await queryOnce<{ open: number; at: number | null }>(
      ordersUrl,
      `select count(*) filter (where not (status = any($2)))::int as open,
              (extract(epoch from max(status_changed_at)) * 1000)::float8 as at
         from customer_order where created_at < $1`,
      [new Date(before), FINAL_STATUSES],
    ).catch(() => []);
    if (rows[0] && rows[0].open === 0) return Math.max(before, rows[0].at ?? before);
    await sleep(500);
  }
  return null;
}

async function waitForFinalStatuses(ordersUrl: string, deadline: number, log: (message: string) => void): Promise<void> {
  let last = -1;
  while (Date.now() < deadline) {
    const rows = await queryOnce<{ n: number }>(ordersUrl, 'select count(*)::int as n from customer_order where not (status = any($1))', [FINAL_STATUSES]).catch(() => [{ n: -1 }]);
    const open = rows[0]?.n ?? -1;
    if (open === 0) return;
    if (open !== last) log(`${open} sagas not finished yet`);
    last = open;
    await sleep(1000);
  }
}

/**
 * The consumers' duplicate count (`shopgraph_consumer_messages_total{result="duplicate"}`), from
 * each service's /metrics. A process's counters die with it, so each incarnation (pid) is kept
 * apart and they are summed; the target of a kill is read just before it.
 */
function duplicateCounter(stack: Stack) {
  const seen = new Map<string, number>(); // `<group>/<pid>` → its last count
  const scrape = async (only?: string) => {
    await Promise.all(
      Object.entries(stack.subgraphUrls)
        .filter(([name]) => !only || name === only)
        .map(async ([name, url]) => {
          const pid = stack.processes.get(name)?.pid;
          if (pid === undefined) return;
          const text = await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(5000) }).then((r) => (r.ok ? r.text() : ''), () => '');
          for (const match of text.matchAll(/^shopgraph_consumer_messages_total\{([^}]*)\}\s+(\S+)$/gm)) {
            const group = /group="([^"]+)"/.exec(match[1]!)?.[1];
            if (!group || !match[1]!.includes('result="duplicate"')) continue;
            const key = `${group}/${pid}`;
            seen.set(key, Math.max(seen.get(key) ?? 0, Number(match[2])));
          }
        }),
    );
  };
  return {
    scrape,
    total: () => [...seen.values()].reduce((sum, n) => sum + n, 0),
    byGroup: () => {
      const groups: Record<string, number> = {};
      for (const [key, n] of seen) groups[key.slice(0, key.lastIndexOf('/'))] = (groups[key.slice(0, key.lastIndexOf('/'))] ?? 0) + n;
      return groups;
    },
    every(ms: number) {
      const timer = setInterval(() => void scrape(), ms);
      return { stop: () => clearInterval(timer) };
    },
  };
}

function countReasons(reasons: string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason.slice(0, 160), (counts.get(reason.slice(0, 160)) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}
