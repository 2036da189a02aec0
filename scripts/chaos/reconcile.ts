// The heart of a chaos run: every invariant computed from the databases (and the dead-letter
// topics), not from what the driver believes happened.
import { Kafka, logLevel } from 'kafkajs';
import { queryOnce } from '@shopgraph/infra';
import type { CheckoutResult } from './driver.ts';

/** Order statuses a saga ends in (CONFIRMED waits for staff to ship it, so for the saga it is final). */
export const FINAL_STATUSES = ['CONFIRMED', 'SHIPPED', 'DELIVERED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED'];
/** Statuses whose goods left stock and whose money was kept. */
const SOLD = new Set(['CONFIRMED', 'SHIPPED', 'DELIVERED']);

export interface Invariant {
  name: string;
  value: number;
  /** What passes, as text: `= 0`, `> 0`, `= 100 %`. */
  expected: string;
  ok: boolean;
  /** A few offending ids, or how the value was found. */
  detail?: string;
}

export interface Poison {
  id: string;
  topic: string;
  /** The consumer groups (logical) that read the topic, each of which must dead-letter it. */
  groups: string[];
}

export interface ReconcileInput {
  databaseUrls: Record<string, string>;
  checkouts: CheckoutResult[];
  initialStock: Map<string, number>;
  couponCode: string;
  /** Poison messages the run was asked to send (none asked: nothing to check), and those it sent. */
  poisonAsked: number;
  poison: Poison[];
  kafkaBrokers: string[];
  topicPrefix: string;
  duplicatesAbsorbed: number;
  /** Every idempotent consumer group of the stack (logical names): each must have a member at the end. */
  consumerGroups: string[];
}

export interface Reconciliation {
  invariants: Invariant[];
  /** Orders by final (or current) status, and how many the saga timeout cancelled. */
  outcomes: Record<string, number>;
  cancelledBySagaTimeout: number;
  orders: number;
}

const sample = (ids: readonly string[]) => (ids.length ? `e.g. ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}` : undefined);
const zero = (name: string, offenders: readonly string[], detail?: string): Invariant => ({
  name,
  value: offenders.length,
  expected: '= 0',
  ok: offenders.length === 0,
  ...((detail ?? sample(offenders)) ? { detail: detail ?? sample(offenders)! } : {}),
});

export async function reconcile(input: ReconcileInput): Promise<Reconciliation> {
  const db = input.databaseUrls;
  const [orders, lines, timeouts] = await Promise.all([
    queryOnce<{ id: string; status: string; total_amount: number; coupon_code: string | null; user_id: string; idempotency_key: string }>(db['orders']!, 'select id, status, total_amount, coupon_code, user_id, idempotency_key from customer_order'),
    queryOnce<{ order_id: string; product_id: string; quantity: number }>(db['orders']!, 'select order_id, product_id, quantity from order_line'),
    queryOnce<{ n: number }>(db['orders']!, `select count(*)::int as n from order_status_change where status = 'CANCELLED' and reason = 'saga timed out'`),
  ]);
  const byId = new Map(orders.map((o) => [o.id, o]));
  const invariants: Invariant[] = [];

  // Orders: every answered placeOrder has its order; one order per checkout.
  const answered = input.checkouts.filter((c) => c.orderId);
  invariants.push(zero('orders lost', answered.filter((c) => !byId.has(c.orderId!)).map((c) => c.orderId!)));
  const perKey = new Map<string, number>();
  for (const o of orders) perKey.set(`${o.user_id}/${o.idempotency_key}`, (perKey.get(`${o.user_id}/${o.idempotency_key}`) ?? 0) + 1);
  invariants.push(zero('duplicate orders (one checkout, two orders)', [...perKey].filter(([, n]) => n > 1).map(([k]) => k)));
  invariants.push(zero('sagas not in a final state', orders.filter((o) => !FINAL_STATUSES.includes(o.status)).map((o) => `${o.id} ${o.status}`)));

  // Payments: the provider's ledger against each order's outcome.
  const charges = await queryOnce<{ idempotency_key: string; kind: string; amount: number; outcome: string }>(db['payments']!, 'select idempotency_key, kind, amount, outcome from test_provider_charge');
  const payments = await queryOnce<{ order_id: string; n: number }>(db['payments']!, 'select order_id, count(*)::int as n from payment group by order_id');
  const orderOf = (key: string) => key.replace(/^refund:/, '');
  const charged = new Map<string, number[]>();
  const refunded = new Map<string, number[]>();
  for (const c of charges) {
    if (c.outcome !== 'succeeded') continue;
    const into = c.kind === 'charge' ? charged : refunded;
    into.set(orderOf(c.idempotency_key), [...(into.get(orderOf(c.idempotency_key)) ?? []), c.amount]);
  }
  invariants.push(
    zero('double charges', [...[...charged].filter(([, amounts]) => amounts.length > 1).map(([id]) => id), ...payments.filter((p) => p.n > 1).map((p) => `${p.order_id} (${p.n} payments)`)]),
  );
  invariants.push(zero('charges without an order', [...charged.keys()].filter((id) => !byId.has(id))));
  invariants.push(zero('refunds without a charge', [...refunded.keys()].filter((id) => !charged.has(id))));
  const sold = orders.filter((o) => SOLD.has(o.status));
  invariants.push(zero('sold orders not charged once (or refunded)', sold.filter((o) => charged.get(o.id)?.length !== 1 || refunded.has(o.id)).map((o) => o.id)));
  invariants.push(zero('charged amount ≠ order total', sold.filter((o) => charged.get(o.id)?.[0] !== undefined && charged.get(o.id)![0] !== o.total_amount).map((o) => o.id)));
  invariants.push(
    zero(
      'unsold orders charged and not refunded',
      orders.filter((o) => FINAL_STATUSES.includes(o.status) && !SOLD.has(o.status) && charged.has(o.id) && refunded.get(o.id)?.[0] !== charged.get(o.id)![0]).map((o) => `${o.id} ${o.status}`),
    ),
  );

  // Inventory: initial stock − units sold = on hand; nothing reserved once every saga is over.
  const stock = await queryOnce<{ product_id: string; on_hand: number; reserved: number; held: number }>(
    db['inventory']!,
    `select s.product_id, s.on_hand, s.reserved, coalesce((select sum(quantity) from reservation r where r.product_id = s.product_id and r.status = 'RESERVED'), 0)::int as held from stock_item s`,
  );
  const soldUnits = new Map<string, number>();
  for (const line of lines) if (SOLD.has(byId.get(line.order_id)?.status ?? '')) soldUnits.set(line.product_id, (soldUnits.get(line.product_id) ?? 0) + line.quantity);
  const overDecremented: string[] = [];
  const leaked: string[] = [];
  let doubleUnits = 0;
  let leakedUnits = 0;
  for (const [productId, initial] of input.initialStock) {
    const row = stock.find((s) => s.product_id === productId);
    const expected = initial - (soldUnits.get(productId) ?? 0);
    const onHand = row?.on_hand ?? 0;
    if (onHand < expected) {
      doubleUnits += expected - onHand;
      overDecremented.push(`${productId}: on hand ${onHand}, expected ${expected}`);
    }
    const stuck = (row?.reserved ?? 0) + Math.max(0, onHand - expected);
    if (stuck > 0 || row?.reserved !== row?.held) {
      leakedUnits += stuck;
      leaked.push(`${productId}: on hand ${onHand} (expected ${expected}), reserved ${row?.reserved} (reservations hold ${row?.held})`);
    }
  }
  invariants.push({ name: 'double stock decrements (units)', value: doubleUnits, expected: '= 0', ok: doubleUnits === 0, ...(sample(overDecremented) ? { detail: sample(overDecremented)! } : {}) });
  invariants.push({ name: 'stock leaked (units reserved or not returned)', value: leakedUnits, expected: '= 0', ok: leaked.length === 0, ...(sample(leaked) ? { detail: sample(leaked)! } : {}) });

  // Coupons: the counters equal the redemptions, and the committed ones are exactly the sold orders with the coupon.
  const [coupon] = await queryOnce<{ reserved_count: number; redeemed_count: number; reserved: number; committed: string[] }>(
    db['promotions']!,
    `select c.reserved_count, c.redeemed_count,
            (select count(*)::int from redemption r where r.coupon_id = c.id and r.status in ('RESERVED', 'PLACED')) as reserved,
            coalesce((select array_agg(r.id::text) from redemption r where r.coupon_id = c.id and r.status = 'COMMITTED'), '{}') as committed
       from coupon c where c.code = $1`,
    [input.couponCode],
  );
  const couponProblems: string[] = [];
  if (coupon) {
    const soldWithCoupon = new Set(sold.filter((o) => o.coupon_code === input.couponCode).map((o) => o.id));
    const committed = new Set(coupon.committed);
    if (coupon.redeemed_count !== committed.size) couponProblems.push(`redeemed_count ${coupon.redeemed_count} ≠ ${committed.size} committed redemptions`);
    if (coupon.reserved_count !== coupon.reserved) couponProblems.push(`reserved_count ${coupon.reserved_count} ≠ ${coupon.reserved} held redemptions`);
    if (coupon.reserved > 0) couponProblems.push(`${coupon.reserved} redemptions still held`);
    for (const id of soldWithCoupon) if (!committed.has(id)) couponProblems.push(`sold order ${id} has no committed redemption`);
    for (const id of committed) if (!soldWithCoupon.has(id)) couponProblems.push(`redemption ${id} committed for an order not sold`);
  } else {
    couponProblems.push(`no coupon ${input.couponCode}`);
  }
  invariants.push(zero('coupon counts ≠ committed redemptions', couponProblems, couponProblems.slice(0, 3).join('; ') || undefined));

  // Outboxes: everything recorded was published.
  const backlogs = await Promise.all(
    Object.entries(db).map(async ([service, url]) => {
      const rows = await queryOnce<{ n: number }>(url, 'select count(*)::int as n from outbox_message where published_at is null').catch(() => [{ n: 0 }]);
      return { service, n: rows[0]?.n ?? 0 };
    }),
  );
  const backlog = backlogs.filter((b) => b.n > 0);
  invariants.push({ name: 'outbox rows not published', value: backlog.reduce((sum, b) => sum + b.n, 0), expected: '= 0', ok: backlog.length === 0, ...(backlog.length ? { detail: backlog.map((b) => `${b.service} ${b.n}`).join(', ') } : {}) });

  invariants.push({ name: 'duplicates absorbed (processed_message)', value: input.duplicatesAbsorbed, expected: '> 0', ok: input.duplicatesAbsorbed > 0, detail: 'consumers\' duplicate count (/metrics, summed over every process incarnation)' });

  // Dead letters: each poison message in the dead-letter topic of every group that reads its topic, and nothing else there.
  const letters = await readDeadLetters(input.kafkaBrokers, input.topicPrefix);
  const expectedPairs = input.poison.flatMap((p) => p.groups.map((g) => `${g}|${p.id}`));
  const found = new Set(letters.filter((l) => l.poison).map((l) => `${l.group}|${l.poison}`));
  const deadLettered = expectedPairs.filter((pair) => found.has(pair)).length;
  const share = expectedPairs.length ? Math.floor((deadLettered / expectedPairs.length) * 1000) / 10 : 100;
  if (input.poisonAsked > 0) invariants.push({
    name: 'poison messages dead-lettered (%)',
    value: share,
    expected: '= 100 %',
    ok: share === 100 && input.poison.length > 0,
    detail: `${deadLettered} of ${expectedPairs.length} (${input.poison.length} poison messages × the groups reading their topic)${sample(expectedPairs.filter((p) => !found.has(p))) ? `; missing ${sample(expectedPairs.filter((p) => !found.has(p)))}` : ''}`,
  });
  const strays = letters.filter((l) => !l.poison);
  invariants.push(zero('real events dead-lettered', strays.map((l) => `${l.group}: ${l.type ?? '?'} (${l.error})`)));
  const idle = await groupsWithoutMembers(input.kafkaBrokers, input.topicPrefix, input.consumerGroups);
  invariants.push(zero('consumer groups with no live member (a consumer stopped)', idle));

  const outcomes: Record<string, number> = {};
  for (const o of orders) outcomes[o.status] = (outcomes[o.status] ?? 0) + 1;
  return { invariants, outcomes, cancelledBySagaTimeout: timeouts[0]?.n ?? 0, orders: orders.length };
}

export const POISON_HEADER = 'x-chaos-poison';

/** The groups (logical names) that are not Stable with at least one member: a consumer that stopped for good while its service looks ready. */
async function groupsWithoutMembers(brokers: string[], prefix: string, groups: string[]): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'chaos-audit', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const described = await admin.describeGroups(groups.map((g) => `${prefix}${g}`));
    return described.groups.filter((g) => g.state !== 'Stable' || g.members.length === 0).map((g) => `${g.groupId.slice(prefix.length)} (${g.state}, ${g.members.length} members)`);
  } finally {
    await admin.disconnect();
  }
}

interface DeadLetter {
  group: string;
  poison?: string;
  type?: string;
  error?: string;
}

/** Every message of the run's dead-letter topics (`<prefix><group>.dlq`), read to the end. */
async function readDeadLetters(brokers: string[], prefix: string): Promise<DeadLetter[]> {
  const kafka = new Kafka({ clientId: 'chaos-audit', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const letters: DeadLetter[] = [];
  try {
    const dlqs = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && t.endsWith('.dlq'));
    const ends = new Map<string, number>();
    for (const topic of dlqs) for (const p of await admin.fetchTopicOffsets(topic)) if (Number(p.high) > Number(p.low)) ends.set(`${topic}:${p.partition}`, Number(p.high));
    if (ends.size === 0) return letters;
    const consumer = kafka.consumer({ groupId: `${prefix}chaos.audit.${Date.now()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [...new Set([...ends.keys()].map((k) => k.slice(0, k.lastIndexOf(':'))))], fromBeginning: true });
      const remaining = new Set(ends.keys());
      const done = new Promise<void>((resolve) => {
        consumer.run({
          eachMessage: async ({ topic, partition, message }) => {
            const header = (name: string) => message.headers?.[name]?.toString();
            letters.push({ group: topic.slice(prefix.length, -'.dlq'.length), poison: header(POISON_HEADER), type: header('event-type'), error: header('x-error')?.slice(0, 120) });
            if (Number(message.offset) + 1 >= ends.get(`${topic}:${partition}`)!) remaining.delete(`${topic}:${partition}`);
            if (remaining.size === 0) resolve();
          },
        }).catch(() => resolve()); // counted as missing below
      });
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    } finally {
      await consumer.disconnect();
    }
  } finally {
    await admin.disconnect();
  }
  return letters;
}
