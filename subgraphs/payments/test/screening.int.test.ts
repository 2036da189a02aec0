import type { Orm } from '@shopgraph/kit';
import {
  consumerOutcomes, errorCodes, eventProducer, graphql, observe,
  type AnyEvent, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer,
} from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyOf, newOrder, startPayments, type Order } from './support.ts';

// Fraud screening on real Postgres and Kafka, on a service (database, topics) of its own: rules
// are global to a service, so they cannot leak into the other payments tests.

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
let observer: EventObserver;
let staff: string;
const staffId = crypto.randomUUID();
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startPayments({ onMessage: handled.record });
  ({ url, issuer, orm } = service);
  producer = eventProducer();
  observer = await observe('payments.payment.v1');
  staff = await issuer.staff(staffId);
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

// Each test sets up the rules it screens with; none stays enabled for the next.
afterEach(async () => {
  await service.sql('update fraud_rule set enabled = false');
});

const sql = <T>(query: string, params: unknown[] = []) => orm.em.fork().execute<T[]>(query, params);

/** Sends events one after the other, each handled cleanly before the next is sent. */
async function deliverInOrder(...events: AnyEvent[]): Promise<void> {
  const seen = new Map<string, number>();
  for (const event of events) {
    const times = (seen.get(event.id) ?? 0) + 1;
    seen.set(event.id, times);
    await producer.send(event);
    const handlings = await handled.handled(event, times);
    expect(handlings.map((o) => o.result)).not.toContain('dead-lettered');
  }
}

const paymentOf = async (orderId: string) =>
  (await sql<{ id: string; status: string; provider_reference: string | null; shipping_country: string | null }>('select * from payment where order_id = ?', [orderId]))[0];
/** The test provider's ledger for an order: every charge or refund it was asked for. */
const ledgerOf = async (orderId: string) =>
  (await sql<{ kind: string; outcome: string }>('select kind, outcome from test_provider_charge where idempotency_key in (?, ?) order by created_at', [orderId, `refund:${orderId}`])).map((r) => [r.kind, r.outcome]);
const recorded = async (orderId: string) =>
  (await sql<{ type: string }>(`select type from outbox_message where envelope->'data'->>'orderId' = ? order by seq`, [orderId])).map((r) => r.type);
const decisionOf = async (orderId: string) => (await sql<{ decision: string; reviewer_id: string | null; reason: string | null }>('select * from screening_decision where order_id = ?', [orderId]))[0];
const published = (orderId: string, type: string) => observer.waitFor((r) => r.envelope.type === type && (r.envelope.data as { orderId: string }).orderId === orderId);

const RULE_FIELDS = 'id name kind enabled maxOrders windowSeconds amount { amount currency } countries';
const CREATE_RULE = `mutation($input: CreateFraudRuleInput!) { createFraudRule(input: $input) { rule { ${RULE_FIELDS} } errors { code field } } }`;
const UPDATE_RULE = `mutation($input: UpdateFraudRuleInput!) { updateFraudRule(input: $input) { rule { ${RULE_FIELDS} } errors { code field } } }`;
const APPROVE = `mutation($input: ApproveOrderInput!) { approveOrder(input: $input) { order { id payment { status } } errors { code field } } }`;
const REJECT = `mutation($input: RejectOrderInput!) { rejectOrder(input: $input) { order { id payment { status } } errors { code field } } }`;
const SCREENING = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id screening { decision rulesFired { ruleId name kind } screenedAt decidedAt reviewer { id } reason } } } }`;
const IN_REVIEW = `query($first: Int, $after: String) { ordersInReview(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount } }`;

async function createRule(input: Record<string, unknown>): Promise<{ id: string; name: string; kind: string }> {
  const response = await graphql(url, CREATE_RULE, { input }, staff);
  expect(response.errors).toBeUndefined();
  expect(response.data!['createFraudRule'].errors).toEqual([]);
  return response.data!['createFraudRule'].rule;
}

/** An AMOUNT_OVER rule that fires on the orders of these tests over $1,000 (they are $42 unless said). */
const bigOrders = () => createRule({ name: 'Orders over $1,000', kind: 'AMOUNT_OVER', amount: { amount: 100_000, currency: 'USD' } });

/** An order screening held: delivered, UNDER_REVIEW, review-required recorded, nothing charged. */
async function heldOrder(method = 'pm_card_visa'): Promise<Order> {
  const order = newOrder(method, 250_000);
  await deliverInOrder(order.placed, order.reserved);
  expect(await paymentOf(order.orderId)).toMatchObject({ status: 'UNDER_REVIEW' });
  return order;
}

const mutate = async (query: string, input: Record<string, unknown>, token = staff) => {
  const response = await graphql(url, query, { input }, token);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as { order: { id: string; payment: { status: string } | null } | null; errors: { code: string; field: string[] }[] };
};

describe('fraud rules (staff)', () => {
  it('creates, lists and updates rules of every kind', async () => {
    const velocity = await createRule({ name: ' Busy customer ', kind: 'CUSTOMER_VELOCITY', maxOrders: 3, windowSeconds: 3600 });
    expect(velocity).toEqual({ id: expect.any(String), name: 'Busy customer', kind: 'CUSTOMER_VELOCITY', enabled: true, maxOrders: 3, windowSeconds: 3600, amount: null, countries: null });
    const card = await createRule({ name: 'Card testing', kind: 'CARD_VELOCITY', maxOrders: 5, windowSeconds: 60, enabled: false });
    const amount = await createRule({ name: 'Big', kind: 'AMOUNT_OVER', amount: { amount: 500_000, currency: 'EUR' } });
    const country = await createRule({ name: 'Far away', kind: 'SHIPPING_COUNTRY', countries: ['ng', 'BR', 'NG'] });
    expect(country).toMatchObject({ countries: ['NG', 'BR'], maxOrders: null, amount: null });
    expect(amount).toMatchObject({ amount: { amount: 500_000, currency: 'EUR' } });

    const listed = await graphql(url, `{ fraudRules { id name enabled } }`, {}, staff);
    expect(listed.data!['fraudRules']).toEqual(
      expect.arrayContaining([
        { id: velocity.id, name: 'Busy customer', enabled: true },
        { id: card.id, name: 'Card testing', enabled: false },
        { id: amount.id, name: 'Big', enabled: true },
        { id: country.id, name: 'Far away', enabled: true },
      ]),
    );

    const updated = await graphql(url, UPDATE_RULE, { input: { ruleId: velocity.id, enabled: false, windowSeconds: 600 } }, staff);
    expect(updated.data!['updateFraudRule']).toEqual({ rule: { ...velocity, enabled: false, windowSeconds: 600 }, errors: [] });
    const renamed = await graphql(url, UPDATE_RULE, { input: { ruleId: country.id, name: 'Shipping risk', countries: ['ru'] } }, staff);
    expect(renamed.data!['updateFraudRule'].rule).toMatchObject({ name: 'Shipping risk', countries: ['RU'], enabled: true });
  });

  it('refuses bad rules with typed errors and stores nothing', async () => {
    const before = (await sql<{ count: string }>('select count(*) from fraud_rule'))[0]!.count;
    const cases: [Record<string, unknown>, string, string[]][] = [
      [{ name: 'v', kind: 'CUSTOMER_VELOCITY', maxOrders: 0, windowSeconds: 60 }, 'INVALID_THRESHOLD', ['input', 'maxOrders']],
      [{ name: 'v', kind: 'CARD_VELOCITY', windowSeconds: 60 }, 'INVALID_THRESHOLD', ['input', 'maxOrders']],
      [{ name: 'v', kind: 'CARD_VELOCITY', maxOrders: 2, windowSeconds: 0 }, 'INVALID_WINDOW', ['input', 'windowSeconds']],
      [{ name: 'v', kind: 'CARD_VELOCITY', maxOrders: 2, windowSeconds: 40 * 24 * 3600 }, 'INVALID_WINDOW', ['input', 'windowSeconds']],
      [{ name: 'a', kind: 'AMOUNT_OVER', amount: { amount: -1, currency: 'USD' } }, 'INVALID_THRESHOLD', ['input', 'amount', 'amount']],
      [{ name: 'a', kind: 'AMOUNT_OVER', amount: { amount: 1, currency: 'dollars' } }, 'INVALID_CURRENCY', ['input', 'amount', 'currency']],
      [{ name: 'a', kind: 'AMOUNT_OVER' }, 'INVALID_THRESHOLD', ['input', 'amount', 'amount']],
      [{ name: 'c', kind: 'SHIPPING_COUNTRY', countries: [] }, 'INVALID_COUNTRY', ['input', 'countries']],
      [{ name: 'c', kind: 'SHIPPING_COUNTRY', countries: ['DE', 'Germany'] }, 'INVALID_COUNTRY', ['input', 'countries', '1']],
      [{ name: 'c', kind: 'SHIPPING_COUNTRY', countries: ['DE'], maxOrders: 2 }, 'INVALID_RULE', ['input', 'maxOrders']],
      [{ name: '  ', kind: 'SHIPPING_COUNTRY', countries: ['DE'] }, 'INVALID_NAME', ['input', 'name']],
    ];
    for (const [input, code, field] of cases) {
      const response = await graphql(url, CREATE_RULE, { input }, staff);
      expect(response.data!['createFraudRule'], JSON.stringify(input)).toEqual({ rule: null, errors: [{ code, field }] });
    }
    expect((await sql<{ count: string }>('select count(*) from fraud_rule'))[0]!.count).toBe(before);

    const rule = await createRule({ name: 'Velocity', kind: 'CUSTOMER_VELOCITY', maxOrders: 2, windowSeconds: 60 });
    const updates: [Record<string, unknown>, string][] = [
      [{ ruleId: rule.id, maxOrders: -5 }, 'INVALID_THRESHOLD'],
      [{ ruleId: rule.id, countries: ['DE'] }, 'INVALID_RULE'],
      [{ ruleId: crypto.randomUUID(), enabled: false }, 'RULE_NOT_FOUND'],
      [{ ruleId: 'not-an-id', enabled: false }, 'RULE_NOT_FOUND'],
    ];
    for (const [input, code] of updates) {
      const response = await graphql(url, UPDATE_RULE, { input }, staff);
      expect(response.data!['updateFraudRule']).toMatchObject({ rule: null, errors: [{ code }] });
    }
    expect((await sql<{ max_orders: number }>('select max_orders from fraud_rule where id = ?', [rule.id]))[0]).toEqual({ max_orders: 2 });
  });
});

describe('screening before the charge', () => {
  it('holds an order a rule fires on: review-required recorded and published once, never charged, however often its events come', async () => {
    const rule = await bigOrders();
    const order = newOrder('pm_card_visa', 250_000);
    await deliverInOrder(order.placed, order.reserved, order.reserved, copyOf(order.placed), copyOf(order.reserved));

    const payment = await paymentOf(order.orderId);
    expect(payment).toMatchObject({ status: 'UNDER_REVIEW', provider_reference: null, shipping_country: 'DE' });
    expect(await ledgerOf(order.orderId)).toEqual([]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.review-required']);
    expect(await decisionOf(order.orderId)).toMatchObject({ decision: 'REVIEW', reviewer_id: null });
    const [event] = await published(order.orderId, 'payments.payment.review-required');
    expect(event!.envelope).toMatchObject({ subject: payment!.id, source: 'payments' });
    expect(event!.envelope.data).toEqual({
      orderId: order.orderId, paymentId: payment!.id, amount: { amount: 250_000, currency: 'USD' }, rules: [{ ruleId: rule.id, name: rule.name, kind: 'AMOUNT_OVER' }],
    });

    // An order under the threshold is charged as before.
    const small = newOrder();
    await deliverInOrder(small.placed, small.reserved);
    expect(await paymentOf(small.orderId)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await recorded(small.orderId)).toEqual(['payments.payment.succeeded']);
    expect(await decisionOf(small.orderId)).toBeUndefined();
  });

  it('counts a customer\'s intents within the window, not older ones nor the order itself', async () => {
    const rule = await createRule({ name: 'Two an hour', kind: 'CUSTOMER_VELOCITY', maxOrders: 2, windowSeconds: 3600 });
    const userId = crypto.randomUUID();
    // An intent of the customer from before the window does not count.
    await sql(`insert into payment (id, order_id, user_id, amount, currency, method, status, stock_reserved, created_at, updated_at) values (?, ?, ?, 100, 'USD', 'pm_card_visa', 'CANCELLED', true, now() - interval '2 hours', now())`, [crypto.randomUUID(), crypto.randomUUID(), userId]);
    const orders = [newOrder('pm_card_visa', 4_200, userId), newOrder('pm_card_visa', 4_200, userId), newOrder('pm_card_visa', 4_200, userId)];
    for (const order of orders) await deliverInOrder(order.placed, order.reserved);
    expect(await Promise.all(orders.map(async (o) => (await paymentOf(o.orderId))!.status))).toEqual(['SUCCEEDED', 'SUCCEEDED', 'UNDER_REVIEW']);
    const [event] = await published(orders[2]!.orderId, 'payments.payment.review-required');
    expect(event!.envelope.data).toMatchObject({ rules: [{ ruleId: rule.id, name: 'Two an hour', kind: 'CUSTOMER_VELOCITY' }] });
    // Another customer is not held by this one's orders.
    const other = newOrder();
    await deliverInOrder(other.placed, other.reserved);
    expect(await paymentOf(other.orderId)).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('counts a payment method\'s intents across customers (CARD_VELOCITY), and fires every rule that matches', async () => {
    // The only tests of this file paying with this method.
    const method = 'pm_card_chargeDeclinedInsufficientFunds';
    const card = await createRule({ name: 'Card testing', kind: 'CARD_VELOCITY', maxOrders: 1, windowSeconds: 600 });
    const country = await createRule({ name: 'Ships to NG', kind: 'SHIPPING_COUNTRY', countries: ['NG'] });
    const first = newOrder(method);
    const second = newOrder(method, 4_200, crypto.randomUUID(), 'NG');
    await deliverInOrder(first.placed, first.reserved, second.placed, second.reserved);
    expect(await paymentOf(first.orderId)).toMatchObject({ status: 'FAILED' });
    expect(await paymentOf(second.orderId)).toMatchObject({ status: 'UNDER_REVIEW', shipping_country: 'NG' });
    const [event] = await published(second.orderId, 'payments.payment.review-required');
    expect(event!.envelope.data).toMatchObject({
      rules: [{ ruleId: card.id, name: 'Card testing', kind: 'CARD_VELOCITY' }, { ruleId: country.id, name: 'Ships to NG', kind: 'SHIPPING_COUNTRY' }],
    });
  });

  it('ignores disabled rules', async () => {
    const rule = await createRule({ name: 'Off', kind: 'SHIPPING_COUNTRY', countries: ['DE'], enabled: false });
    const order = newOrder();
    await deliverInOrder(order.placed, order.reserved);
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'SUCCEEDED' });
    // Enabled, it holds the next order to Germany.
    await graphql(url, UPDATE_RULE, { input: { ruleId: rule.id, enabled: true } }, staff);
    await heldOrder();
  });
});

describe('staff review', () => {
  it('approving charges the held order exactly once, whatever is delivered or asked again', async () => {
    await bigOrders();
    const order = await heldOrder();
    const approved = await mutate(APPROVE, { orderId: order.orderId });
    expect(approved).toEqual({ order: { id: order.orderId, payment: { status: 'SUCCEEDED' } }, errors: [] });

    const again = await mutate(APPROVE, { orderId: order.orderId });
    expect(again).toEqual({ order: null, errors: [{ code: 'ORDER_NOT_IN_REVIEW', field: ['input', 'orderId'] }] });
    expect((await mutate(REJECT, { orderId: order.orderId, reason: 'too late' })).errors).toEqual([{ code: 'ORDER_NOT_IN_REVIEW', field: ['input', 'orderId'] }]);
    await deliverInOrder(copyOf(order.placed), copyOf(order.reserved));

    const payment = await paymentOf(order.orderId);
    expect(payment).toMatchObject({ status: 'SUCCEEDED', provider_reference: expect.stringMatching(/^ch_test_/) });
    expect(await ledgerOf(order.orderId)).toEqual([['charge', 'succeeded']]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.review-required', 'payments.payment.succeeded']);
    const [event] = await published(order.orderId, 'payments.payment.succeeded');
    expect(event!.envelope.data).toEqual({ orderId: order.orderId, paymentId: payment!.id, amount: { amount: 250_000, currency: 'USD' } });
    expect(await decisionOf(order.orderId)).toMatchObject({ decision: 'APPROVED', reviewer_id: staffId });
  });

  it('approving a held order whose card is declined fails its payment as any charge would', async () => {
    await bigOrders();
    const order = await heldOrder('pm_card_chargeDeclined');
    expect(await mutate(APPROVE, { orderId: order.orderId })).toEqual({ order: { id: order.orderId, payment: { status: 'FAILED' } }, errors: [] });
    expect(await ledgerOf(order.orderId)).toEqual([['charge', 'declined']]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.review-required', 'payments.payment.failed']);
  });

  it('rejecting never charges: payments.payment.rejected recorded once, and nothing after it charges', async () => {
    await bigOrders();
    const order = await heldOrder();
    const rejected = await mutate(REJECT, { orderId: order.orderId, reason: '  Card reported stolen ' });
    expect(rejected).toEqual({ order: { id: order.orderId, payment: { status: 'REJECTED' } }, errors: [] });
    expect((await mutate(REJECT, { orderId: order.orderId, reason: 'again' })).errors).toEqual([{ code: 'ORDER_NOT_IN_REVIEW', field: ['input', 'orderId'] }]);
    expect((await mutate(APPROVE, { orderId: order.orderId })).errors).toEqual([{ code: 'ORDER_NOT_IN_REVIEW', field: ['input', 'orderId'] }]);
    await deliverInOrder(copyOf(order.placed), copyOf(order.reserved), order.cancelled, copyOf(order.cancelled));

    const payment = await paymentOf(order.orderId);
    expect(payment).toMatchObject({ status: 'REJECTED', provider_reference: null });
    expect(await ledgerOf(order.orderId)).toEqual([]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.review-required', 'payments.payment.rejected']);
    const [event] = await published(order.orderId, 'payments.payment.rejected');
    expect(event!.envelope.data).toEqual({ orderId: order.orderId, paymentId: payment!.id, amount: { amount: 250_000, currency: 'USD' }, reason: 'Card reported stolen' });
    expect(await decisionOf(order.orderId)).toMatchObject({ decision: 'REJECTED', reviewer_id: staffId, reason: 'Card reported stolen' });
  });

  it('a cancellation while held voids the payment: never charged, no longer in review', async () => {
    await bigOrders();
    const order = await heldOrder();
    await deliverInOrder(order.cancelled, order.cancelled, copyOf(order.cancelled), copyOf(order.reserved));
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED' });
    expect(await decisionOf(order.orderId)).toMatchObject({ decision: 'CANCELLED', reviewer_id: null });
    expect((await mutate(APPROVE, { orderId: order.orderId })).errors).toEqual([{ code: 'ORDER_NOT_IN_REVIEW', field: ['input', 'orderId'] }]);
    expect(await ledgerOf(order.orderId)).toEqual([]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.review-required']);
  });

  it('refuses bad decisions with typed errors', async () => {
    await bigOrders();
    const order = await heldOrder();
    const charged = newOrder();
    await deliverInOrder(charged.placed, charged.reserved);
    const field = ['input', 'orderId'];
    expect((await mutate(APPROVE, { orderId: crypto.randomUUID() })).errors).toEqual([{ code: 'ORDER_NOT_FOUND', field }]);
    expect((await mutate(APPROVE, { orderId: 'not-an-id' })).errors).toEqual([{ code: 'ORDER_NOT_FOUND', field }]);
    expect((await mutate(APPROVE, { orderId: charged.orderId })).errors).toEqual([{ code: 'ORDER_NOT_IN_REVIEW', field }]);
    expect((await mutate(REJECT, { orderId: crypto.randomUUID(), reason: 'fraud' })).errors).toEqual([{ code: 'ORDER_NOT_FOUND', field }]);
    for (const reason of ['', '   ', 'x'.repeat(501)]) {
      expect((await mutate(REJECT, { orderId: order.orderId, reason })).errors).toEqual([{ code: 'INVALID_REASON', field: ['input', 'reason'] }]);
    }
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'UNDER_REVIEW' });
    expect(await ledgerOf(charged.orderId)).toEqual([['charge', 'succeeded']]);
  });
});

describe('what staff and customers see', () => {
  it('lists the held orders oldest first, a page at a time', async () => {
    await bigOrders();
    const held = [await heldOrder(), await heldOrder(), await heldOrder()].map((o) => o.orderId);
    type Page = { edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null }; totalCount: number };
    const inReview = async (variables: Record<string, unknown>): Promise<Page> => {
      const response = await graphql(url, IN_REVIEW, variables, staff);
      expect(response.errors).toBeUndefined();
      return response.data!['ordersInReview'];
    };
    // Earlier tests' holds are older: these three come last, in the order they were held.
    const all = await inReview({ first: 100 });
    const ids = all.edges.map((e) => e.node.id);
    expect(ids.slice(-3)).toEqual(held);
    expect(all.totalCount).toBe(ids.length);
    const before = all.edges.at(-4)?.cursor ?? null;
    const page = await inReview({ first: 2, after: before });
    expect(page).toMatchObject({ totalCount: ids.length, pageInfo: { hasNextPage: true } });
    expect(page.edges.map((e) => e.node.id)).toEqual(held.slice(0, 2));
    const rest = await inReview({ first: 2, after: page.pageInfo.endCursor });
    expect(rest).toMatchObject({ pageInfo: { hasNextPage: false }, edges: [{ node: { id: held[2] } }] });

    await mutate(APPROVE, { orderId: held[0]! });
    const after = await inReview({ first: 100 });
    expect(after.edges.map((e) => e.node.id).slice(-2)).toEqual(held.slice(1));
    expect(after.edges.map((e) => e.node.id)).not.toContain(held[0]);
    expect(after.totalCount).toBe(ids.length - 1);

    expect(errorCodes(await graphql(url, IN_REVIEW, { first: 101 }, staff))).toEqual(['BAD_USER_INPUT']);
    expect((await graphql(url, IN_REVIEW, { after: 'bogus' }, staff)).errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CURSOR' });
  });

  it('shows Order.screening to staff only; customers cannot call the staff fields (FORBIDDEN)', async () => {
    const rule = await bigOrders();
    const order = await heldOrder();
    const r = [{ __typename: 'Order', id: order.orderId }];
    const review = await graphql(url, SCREENING, { r }, staff);
    expect(review.errors).toBeUndefined();
    expect(review.data!['_entities']).toEqual([
      {
        id: order.orderId,
        screening: { decision: 'REVIEW', rulesFired: [{ ruleId: rule.id, name: rule.name, kind: 'AMOUNT_OVER' }], screenedAt: expect.any(String), decidedAt: null, reviewer: null, reason: null },
      },
    ]);
    await mutate(REJECT, { orderId: order.orderId, reason: 'Stolen card' });
    const decided = (await graphql(url, SCREENING, { r }, staff)).data!['_entities'][0].screening;
    expect(decided).toMatchObject({ decision: 'REJECTED', decidedAt: expect.any(String), reviewer: { id: staffId }, reason: 'Stolen card' });

    // The order's own customer sees the payment's status, but not the screening.
    const owner = await issuer.customer(order.userId);
    const asOwner = await graphql(url, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { payment { status } screening { decision } } } }`, { r }, owner);
    expect(asOwner.errors).toBeUndefined();
    expect(asOwner.data!['_entities']).toEqual([{ payment: { status: 'REJECTED' }, screening: null }]);

    const customer = await issuer.customer();
    const staffOnly: [string, Record<string, unknown>][] = [
      [`{ fraudRules { id } }`, {}],
      [IN_REVIEW, {}],
      [CREATE_RULE, { input: { name: 'x', kind: 'AMOUNT_OVER', amount: { amount: 1, currency: 'USD' } } }],
      [UPDATE_RULE, { input: { ruleId: rule.id, enabled: false } }],
      [APPROVE, { input: { orderId: order.orderId } }],
      [REJECT, { input: { orderId: order.orderId, reason: 'x' } }],
    ];
    for (const [query, variables] of staffOnly) {
      expect(errorCodes(await graphql(url, query, variables, owner)), query).toContain('FORBIDDEN');
      expect(errorCodes(await graphql(url, query, variables, customer)), query).toContain('FORBIDDEN');
      expect(errorCodes(await graphql(url, query, variables)), query).toContain('UNAUTHENTICATED');
    }
    // Nothing a refused call asked for happened.
    expect((await sql<{ enabled: boolean }>('select enabled from fraud_rule where id = ?', [rule.id]))[0]).toEqual({ enabled: true });
    expect(await ledgerOf(order.orderId)).toEqual([]);
  });
});

it('has migrations that build exactly the schema its entities describe', async () => {
  expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
});

