import type { EventData } from '@shopgraph/events';
import { consumerOutcomes, errorCodes, eventProducer, graphql, newEvent, observe, type AnyEvent, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPromotions } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let staff: string;
let producer: EventProducer;
let observer: EventObserver;
let queries: string[] = [];
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startPromotions({ onMessage: handled.record, onQuery: (sql) => queries.push(sql) });
  ({ url, issuer } = service);
  staff = await issuer.staff();
  producer = eventProducer();
  observer = await observe('promotions.redemption.v1');
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

beforeEach(() => {
  queries = [];
});

const usd = (amount: number) => ({ amount, currency: 'USD' });
const newCode = () => `T${crypto.randomUUID().slice(0, 8).toUpperCase()}`;

const COUPON = 'id code description kind percentOff amountOff { amount currency } minimumSubtotal { amount currency } category { id } products { id } startsAt endsAt usageLimit perCustomerLimit active redeemedCount reservedCount';
const ERRORS = 'errors { code message field }';
const CREATE = `mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { ${COUPON} } ${ERRORS} } }`;
const UPDATE = `mutation($input: UpdateCouponInput!) { updateCoupon(input: $input) { coupon { ${COUPON} } ${ERRORS} } }`;
const LIST = `query($first: Int, $after: String) { coupons(first: $first, after: $after) { totalCount edges { cursor node { id code } } pageInfo { hasNextPage endCursor } } }`;
const APPLY = `mutation($input: ApplyCouponInput!) { applyCoupon(input: $input) { cart { owner { id } } ${ERRORS} } }`;
const REMOVE = `mutation { removeCoupon { cart { owner { id } } ${ERRORS} } }`;
const RESERVE = `mutation($input: ReserveCouponInput!) { reserveCoupon(input: $input) { redemption { code discount { amount currency } } ${ERRORS} } }`;
const CARTS = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Cart { owner { id } coupon { code description problem { code message } } discount { amount currency } total { amount currency } } } }`;

type UserErrors = { code: string; message: string; field: string[] | null }[];
type Payload = { errors: UserErrors; [field: string]: any };

async function mutate(query: string, variables: Record<string, unknown>, token: string): Promise<Payload> {
  const response = await graphql(url, query, variables, token);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Payload;
}

async function createCoupon(input: Record<string, unknown>) {
  const created = await mutate(CREATE, { input: { code: newCode(), description: 'Test coupon', ...input } }, staff);
  expect(created.errors).toEqual([]);
  return created['coupon'] as { id: string; code: string; [field: string]: any };
}

async function customer() {
  const userId = crypto.randomUUID();
  return { userId, token: await issuer.customer(userId) };
}

const apply = async (token: string, code: string) => (await mutate(APPLY, { input: { code } }, token)).errors.map((e) => e.code);

const line = (productId = crypto.randomUUID(), amount = 2_000, quantity = 1) => ({ productId, quantity, unitPrice: usd(amount) });
const reserve = (token: string, orderId: string, lines = [line()]) => mutate(RESERVE, { input: { orderId, lines } }, token);

/** A customer who applied `code` and reserved it for a new order of `lines`. */
async function reservedOrder(code: string, lines = [line()]) {
  const who = await customer();
  expect(await apply(who.token, code)).toEqual([]);
  const orderId = crypto.randomUUID();
  const reserved = await reserve(who.token, orderId, lines);
  expect(reserved.errors).toEqual([]);
  return { ...who, orderId, redemption: reserved['redemption'] as { code: string; discount: { amount: number; currency: string } } };
}

/** Sends events one after the other, each handled before the next is sent (one sent again is delivered again, as a redelivery). */
async function deliverInOrder(...events: AnyEvent[]): Promise<void> {
  for (const event of events) {
    const before = handled.resultsOf(event).length;
    await producer.send(event);
    const handlings = await handled.handled(event, before + 1);
    expect(handlings.map((o) => o.result)).not.toContain('dead-lettered');
  }
}

const address = { name: 'A Customer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };
const placed = (order: { orderId: string; userId: string; redemption?: { code: string; discount: { amount: number; currency: string } } }) =>
  newEvent('orders.order.placed', order.orderId, {
    orderId: order.orderId,
    userId: order.userId,
    lines: [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(2_000) }],
    total: usd(2_000 - (order.redemption?.discount.amount ?? 0)),
    paymentMethod: 'pm_card_visa',
    shippingAddress: address,
    ...(order.redemption ? { coupon: order.redemption } : {}),
  });
let version = 0;
const statusChanged = (order: { orderId: string; userId: string }, status: EventData<'orders.order.status-changed'>['status']) =>
  newEvent('orders.order.status-changed', order.orderId, { orderId: order.orderId, userId: order.userId, version: ++version, status, reason: null, at: new Date().toISOString() });
const cancelled = (order: { orderId: string; userId: string }, previousStatus: EventData<'orders.order.cancelled'>['previousStatus']) =>
  newEvent('orders.order.cancelled', order.orderId, { orderId: order.orderId, userId: order.userId, reason: 'Changed my mind', previousStatus });
const shipmentCancelled = (order: { orderId: string }) =>
  newEvent('shipping.shipment.cancelled', order.orderId, { orderId: order.orderId, shipmentId: crypto.randomUUID(), trackingNumber: 'SG0000000000', reason: 'Changed my mind', at: new Date().toISOString() });

const counts = async (code: string) => (await service.sql<{ reserved: number; redeemed: number }>('select reserved_count as reserved, redeemed_count as redeemed from coupon where code = ?', [code]))[0];
const statusOf = async (orderId: string) => (await service.sql<{ status: string; reason: string | null }>('select status, reason from redemption where id = ?', [orderId]))[0];
const published = (orderId: string) => observer.received.filter((r) => r.key === orderId).map((r) => ({ type: r.envelope.type, data: r.envelope.data }));

describe('coupons (staff)', () => {
  it('creates, lists and updates coupons; the code is taken in any case and stored upper-case', async () => {
    const category = crypto.randomUUID();
    const code = newCode();
    const created = await mutate(CREATE, {
      input: { code: `  ${code.toLowerCase()} `, description: ' Ten off kitchenware ', kind: 'PERCENTAGE', percentOff: 10, minimumSubtotal: usd(3_000), categoryId: category, usageLimit: 100, perCustomerLimit: 1, startsAt: '2025-01-01T00:00:00Z' },
    }, staff);
    expect(created).toEqual({
      errors: [],
      coupon: {
        id: expect.any(String), code, description: 'Ten off kitchenware', kind: 'PERCENTAGE', percentOff: 10, amountOff: null, minimumSubtotal: usd(3_000),
        category: { id: category }, products: [], startsAt: '2025-01-01T00:00:00.000Z', endsAt: null, usageLimit: 100, perCustomerLimit: 1, active: true, redeemedCount: 0, reservedCount: 0,
      },
    });
    const id = created['coupon'].id as string;

    // Absent fields stay; null removes an optional setting; either restriction field replaces the restriction.
    const products = [crypto.randomUUID(), crypto.randomUUID()];
    const updated = await mutate(UPDATE, { input: { id, active: false, usageLimit: null, productIds: products, endsAt: '2030-01-01T00:00:00Z' } }, staff);
    expect(updated.errors).toEqual([]);
    expect(updated['coupon']).toMatchObject({ code, active: false, usageLimit: null, perCustomerLimit: 1, category: null, products: products.map((p) => ({ id: p })), endsAt: '2030-01-01T00:00:00.000Z', percentOff: 10 });
    expect((await mutate(UPDATE, { input: { id, active: true, percentOff: 25, categoryId: null } }, staff))['coupon']).toMatchObject({ active: true, percentOff: 25, products: [], category: null });

    const second = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(500) });
    expect(second).toMatchObject({ kind: 'FIXED_AMOUNT', amountOff: usd(500), percentOff: null, usageLimit: null });

    // Newest first, a page at a time.
    type Page = { totalCount: number; edges: { node: { code: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    const seen: string[] = [];
    const totals = new Set<number>();
    let after: string | null = null;
    do {
      const response = await graphql<{ coupons: Page }>(url, LIST, { first: 1, after }, staff);
      expect(response.errors).toBeUndefined();
      const page: Page = response.data!.coupons;
      totals.add(page.totalCount);
      seen.push(...page.edges.map((e) => e.node.code));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect([...totals]).toEqual([seen.length]);
    expect(seen.indexOf(second.code)).toBeLessThan(seen.indexOf(code));
  });

  it('answers every input error at once, and CODE_TAKEN / COUPON_NOT_FOUND', async () => {
    const codes = async (input: Record<string, unknown>) => (await mutate(CREATE, { input: { code: newCode(), kind: 'PERCENTAGE', percentOff: 10, ...input } }, staff)).errors.map((e) => [e.code, e.field]).sort();
    expect(await codes({ code: 'x', percentOff: 0 })).toEqual([['INVALID_CODE', ['input', 'code']], ['INVALID_PERCENT', ['input', 'percentOff']]]);
    expect(await codes({ code: 'NO SPACES' })).toEqual([['INVALID_CODE', ['input', 'code']]]);
    expect(await codes({ percentOff: 101 })).toEqual([['INVALID_PERCENT', ['input', 'percentOff']]]);
    expect(await codes({ kind: 'FIXED_AMOUNT' })).toEqual([['INVALID_AMOUNT', ['input', 'amountOff']], ['INVALID_PERCENT', ['input', 'percentOff']]]);
    expect(await codes({ kind: 'FIXED_AMOUNT', percentOff: null, amountOff: usd(0) })).toEqual([['INVALID_AMOUNT', ['input', 'amountOff']]]);
    expect(await codes({ kind: 'FIXED_AMOUNT', percentOff: null, amountOff: usd(100), minimumSubtotal: { amount: 100, currency: 'EUR' } })).toEqual([['INVALID_AMOUNT', ['input', 'minimumSubtotal']]]);
    expect(await codes({ minimumSubtotal: { amount: 100, currency: 'usd' } })).toEqual([['INVALID_AMOUNT', ['input', 'minimumSubtotal']]]);
    expect(await codes({ startsAt: '2030-01-01T00:00:00Z', endsAt: '2029-01-01T00:00:00Z' })).toEqual([['INVALID_WINDOW', ['input', 'endsAt']]]);
    expect(await codes({ usageLimit: 0, perCustomerLimit: -1 })).toEqual([['INVALID_LIMIT', ['input', 'perCustomerLimit']], ['INVALID_LIMIT', ['input', 'usageLimit']]]);
    expect(await codes({ categoryId: crypto.randomUUID(), productIds: [crypto.randomUUID()] })).toEqual([['INVALID_RESTRICTION', ['input', 'productIds']]]);
    expect(await codes({ productIds: ['not-a-product'] })).toEqual([['INVALID_RESTRICTION', ['input', 'productIds']]]);
    expect(await codes({ description: 'x'.repeat(501) })).toEqual([['INVALID_DESCRIPTION', ['input', 'description']]]);

    const taken = await createCoupon({ kind: 'PERCENTAGE', percentOff: 5 });
    expect(await codes({ code: taken.code.toLowerCase() })).toEqual([['CODE_TAKEN', ['input', 'code']]]);
    expect((await mutate(UPDATE, { input: { id: crypto.randomUUID(), active: false } }, staff)).errors.map((e) => e.code)).toEqual(['COUPON_NOT_FOUND']);
    expect((await mutate(UPDATE, { input: { id: taken.id, amountOff: usd(100), percentOff: 0 } }, staff)).errors.map((e) => e.code).sort()).toEqual(['INVALID_AMOUNT', 'INVALID_PERCENT']);
    expect((await service.sql('select percent_off from coupon where id = ?', [taken.id]))).toEqual([{ percent_off: 5 }]);

    const badPage = await graphql(url, LIST, { first: 51 }, staff);
    expect(badPage.errors?.map((e) => [e.extensions?.['code'], e.extensions?.['reason']])).toEqual([['BAD_USER_INPUT', 'INVALID_PAGE_SIZE']]);
    const badCursor = await graphql(url, LIST, { first: 1, after: 'bm9wZQ' }, staff);
    expect(badCursor.errors?.map((e) => e.extensions?.['reason'])).toEqual(['INVALID_CURSOR']);
  });

  it('is for staff only', async () => {
    const { token } = await customer();
    expect(errorCodes(await graphql(url, CREATE, { input: { code: newCode(), kind: 'PERCENTAGE', percentOff: 100 } }, token))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(url, LIST, {}, token))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(url, UPDATE, { input: { id: crypto.randomUUID() } }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('applying a coupon', () => {
  it('refuses what cannot be used now with a typed error; one coupon per cart', async () => {
    const { token, userId } = await customer();
    const open = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10 });
    const inactive = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, active: false });
    const later = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    const over = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, endsAt: new Date(Date.now() - 1_000).toISOString() });
    const single = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, usageLimit: 1 });
    const oncePerCustomer = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, perCustomerLimit: 1 });

    expect(await apply(token, 'NOPE-NOT-THERE')).toEqual(['COUPON_NOT_FOUND']);
    expect(await apply(token, 'x')).toEqual(['COUPON_NOT_FOUND']);
    expect(await apply(token, inactive.code)).toEqual(['COUPON_NOT_FOUND']);
    expect(await apply(token, later.code)).toEqual(['COUPON_NOT_STARTED']);
    expect(await apply(token, over.code)).toEqual(['COUPON_EXPIRED']);
    await reservedOrder(single.code);
    expect(await apply(token, single.code)).toEqual(['COUPON_EXHAUSTED']);
    // The customer's own earlier use counts against a per-customer limit.
    expect(await apply(token, oncePerCustomer.code)).toEqual([]);
    expect((await reserve(token, crypto.randomUUID())).errors).toEqual([]);
    expect(await apply(token, oncePerCustomer.code)).toEqual(['COUPON_CUSTOMER_LIMIT']);

    const applied = await mutate(APPLY, { input: { code: ` ${open.code.toLowerCase()}` } }, token);
    expect(applied).toEqual({ cart: { owner: { id: userId } }, errors: [] });
    expect(await apply(token, open.code)).toEqual([]); // the same again: nothing changes
    const another = await createCoupon({ kind: 'PERCENTAGE', percentOff: 50 });
    expect((await mutate(APPLY, { input: { code: another.code } }, token)).errors).toEqual([{ code: 'COUPON_ALREADY_APPLIED', message: expect.any(String), field: ['input', 'code'] }]);
    expect(await service.sql('select coupon_id from applied_coupon where user_id = ?', [userId])).toEqual([{ coupon_id: open.id }]);

    expect(await mutate(REMOVE, {}, token)).toEqual({ cart: { owner: { id: userId } }, errors: [] });
    expect(await mutate(REMOVE, {}, token)).toEqual({ cart: { owner: { id: userId } }, errors: [] });
    expect(await apply(token, another.code)).toEqual([]);

    expect(errorCodes(await graphql(url, APPLY, { input: { code: open.code } }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('the cart (Cart entity with the fields its coupon fields require)', () => {
  const cartRef = (userId: string, lines: { productId: string; amount: number; currency?: string }[]) => {
    const lineTotals = lines.map((l) => ({ product: { id: l.productId }, lineTotal: { amount: l.amount, currency: l.currency ?? 'USD' } }));
    return { __typename: 'Cart', owner: { id: userId }, lines: lineTotals, subtotal: { amount: lines.reduce((sum, l) => sum + l.amount, 0), currency: lines[0]?.currency ?? 'USD' } };
  };
  async function carts(refs: ReturnType<typeof cartRef>[], token: string) {
    const response = await graphql(url, CARTS, { r: refs }, token);
    expect(response.errors).toBeUndefined();
    return response.data!['_entities'] as { coupon: { code: string; description: string; problem: { code: string; message: string } | null } | null; discount: unknown; total: unknown }[];
  }

  it('shows the applied coupon, what it takes off and the total, or why it does not apply', async () => {
    const { token, userId } = await customer();
    const kettle = crypto.randomUUID();
    const ten = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, minimumSubtotal: usd(3_000), description: 'Ten percent off' });

    expect(await carts([cartRef(userId, [{ productId: kettle, amount: 2_000 }])], token)).toEqual([{ owner: { id: userId }, coupon: null, discount: null, total: usd(2_000) }]);
    expect(await apply(token, ten.code)).toEqual([]);
    expect(await carts([cartRef(userId, [{ productId: kettle, amount: 2_000 }])], token)).toEqual([{
      owner: { id: userId },
      coupon: { code: ten.code, description: 'Ten percent off', problem: { code: 'COUPON_MINIMUM_NOT_MET', message: 'Add $10.00 more to use this coupon (minimum $30.00)' } },
      discount: null,
      total: usd(2_000),
    }]);
    expect(await carts([cartRef(userId, [{ productId: kettle, amount: 2_000 }, { productId: crypto.randomUUID(), amount: 1_999 }])], token)).toEqual([{
      owner: { id: userId }, coupon: { code: ten.code, description: 'Ten percent off', problem: null }, discount: usd(399), total: usd(3_600),
    }]);
    expect((await carts([cartRef(userId, [{ productId: kettle, amount: 5_000, currency: 'EUR' }])], token))[0]!.coupon!.problem!.code).toBe('COUPON_CURRENCY_MISMATCH');

    // A code-level problem that became true later: staff withdrew the coupon.
    await mutate(UPDATE, { input: { id: ten.id, active: false } }, staff);
    expect((await carts([cartRef(userId, [{ productId: kettle, amount: 5_000 }])], token))[0]).toMatchObject({ coupon: { problem: { code: 'COUPON_NOT_FOUND' } }, discount: null, total: usd(5_000) });
  });

  it('discounts only a category\'s lines, knowing categories from catalog\'s events', async () => {
    const { token, userId } = await customer();
    const kitchen = crypto.randomUUID();
    const [pan, pot, tent] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const product = (productId: string, categoryId: string | null) =>
      newEvent('catalog.product.changed', productId, { productId, sku: `SKU-${productId.slice(0, 8)}`, name: 'Thing', description: '', price: usd(1_000), categoryId });
    // The pot moved out of the kitchen: the last change wins.
    await deliverInOrder(product(pan, kitchen), product(pot, kitchen), product(tent, crypto.randomUUID()), product(pot, null));
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(5_000), categoryId: kitchen });
    expect(await apply(token, coupon.code)).toEqual([]);

    const lines = [{ productId: pan, amount: 3_000 }, { productId: pot, amount: 4_000 }, { productId: tent, amount: 8_000 }];
    expect((await carts([cartRef(userId, lines)], token))[0]).toMatchObject({ coupon: { problem: null }, discount: usd(3_000), total: usd(12_000) });
    expect((await carts([cartRef(userId, lines.slice(1))], token))[0]).toMatchObject({ coupon: { problem: { code: 'COUPON_NOT_APPLICABLE' } }, discount: null, total: usd(12_000) });
  });

  it('writes a batch of catalog changes in one statement, the last change of each product winning', async () => {
    const { token, userId } = await customer();
    const [kitchen, garden] = [crypto.randomUUID(), crypto.randomUUID()];
    const pan = crypto.randomUUID();
    const moved = (categoryId: string) => newEvent('catalog.product.changed', pan, { productId: pan, sku: 'SKU-PAN', name: 'Pan', description: '', price: usd(1_000), categoryId });
    const [first, last] = [moved(garden), moved(kitchen)];
    await producer.send(first, last); // one produce request: one fetch brings both
    for (const event of [first, last]) expect((await handled.handled(event)).map((o) => o.result)).toEqual(['processed']);
    // One upsert for both (one statement may not touch a row twice: the last change alone is written).
    expect(queries.filter((sql) => /^insert into product_category/.test(sql))).toHaveLength(1);
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(500), categoryId: kitchen });
    expect(await apply(token, coupon.code)).toEqual([]);
    expect((await carts([cartRef(userId, [{ productId: pan, amount: 1_000 }])], token))[0]).toMatchObject({ discount: usd(500) });
  });

  it('prices many carts with one query of applied coupons; someone else\'s cart is FORBIDDEN, staff see any', async () => {
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(100) });
    const shoppers = await Promise.all(Array.from({ length: 5 }, customer));
    for (const { token } of shoppers.slice(0, 3)) expect(await apply(token, coupon.code)).toEqual([]);
    queries = [];
    const priced = await carts(shoppers.map(({ userId }) => cartRef(userId, [{ productId: crypto.randomUUID(), amount: 1_000 }])), staff);
    expect(priced.map((cart) => cart.discount)).toEqual([usd(100), usd(100), usd(100), null, null]);
    expect(queries.filter((sql) => /applied_coupon|product_category/.test(sql))).toHaveLength(1);

    const [me, other] = shoppers;
    const response = await graphql(url, CARTS, { r: [cartRef(other!.userId, [{ productId: crypto.randomUUID(), amount: 1_000 }])] }, me!.token);
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(url, CARTS, { r: [cartRef(me!.userId, [])] }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('reserveCoupon', () => {
  it('gives a coupon limited to 50 uses to exactly 50 of 200 concurrent checkouts; the rest get COUPON_EXHAUSTED and keep it applied', async () => {
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(500), usageLimit: 50 });
    const shoppers = await Promise.all(Array.from({ length: 200 }, customer));
    expect((await Promise.all(shoppers.map(({ token }) => apply(token, coupon.code)))).flat()).toEqual([]);

    const orders = shoppers.map((shopper) => ({ ...shopper, orderId: crypto.randomUUID() }));
    const answers = await Promise.all(orders.map(({ token, orderId }) => reserve(token, orderId)));
    const won = answers.filter((a) => a['redemption']);
    expect(won).toHaveLength(50);
    for (const answer of won) expect(answer).toEqual({ redemption: { code: coupon.code, discount: usd(500) }, errors: [] });
    const refused = answers.filter((a) => !a['redemption']);
    expect(refused.map((a) => a.errors.map((e) => e.code))).toEqual(Array(150).fill(['COUPON_EXHAUSTED']));

    expect(await counts(coupon.code)).toEqual({ reserved: 50, redeemed: 0 });
    expect(await service.sql('select status, count(*)::int as n from redemption where coupon_id = ? group by status', [coupon.id])).toEqual([{ status: 'RESERVED', n: 50 }]);
    // The winners' coupon went with their order; the others' stays on their cart.
    expect(await service.sql('select count(*)::int as n from applied_coupon where coupon_id = ?', [coupon.id])).toEqual([{ n: 150 }]);

    // Every call again (orders retrying): the same answers, nothing more reserved.
    const again = await Promise.all(orders.map(({ token, orderId }) => reserve(token, orderId)));
    expect(again).toEqual(answers);
    expect(await counts(coupon.code)).toEqual({ reserved: 50, redeemed: 0 });
  });

  it('is idempotent per order id, also when the same order\'s calls race', async () => {
    const coupon = await createCoupon({ kind: 'PERCENTAGE', percentOff: 15 });
    const { token } = await customer();
    expect(await apply(token, coupon.code)).toEqual([]);
    const orderId = crypto.randomUUID();
    const lines = [line(undefined, 3_333), line(undefined, 1_000, 2)];
    const answers = await Promise.all(Array.from({ length: 10 }, () => reserve(token, orderId, lines)));
    // 15% of 53.33 is 7.9995: rounded down.
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ redemption: { code: coupon.code, discount: usd(799) }, errors: [] })]));
    expect(await counts(coupon.code)).toEqual({ reserved: 1, redeemed: 0 });

    // Another customer cannot take over the order id; a customer without a coupon reserves nothing.
    const other = await customer();
    expect(await apply(other.token, coupon.code)).toEqual([]);
    expect((await reserve(other.token, orderId)).errors.map((e) => e.code)).toEqual(['INVALID_ORDER_ID']);
    expect(await reserve((await customer()).token, crypto.randomUUID())).toEqual({ redemption: null, errors: [] });
    expect((await reserve(other.token, 'order-1')).errors.map((e) => e.code)).toEqual(['INVALID_ORDER_ID']);
    expect((await reserve(other.token, crypto.randomUUID(), [])).errors.map((e) => e.code)).toEqual(['INVALID_LINES']);
    expect((await reserve(other.token, crypto.randomUUID(), [line(undefined, 100, 0)])).errors.map((e) => e.code)).toEqual(['INVALID_LINES']);
  });

  it('checks the lines under the lock: minimum, eligibility and currency refuse and reserve nothing', async () => {
    const shoe = crypto.randomUUID();
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(1_000), minimumSubtotal: usd(5_000), productIds: [shoe] });
    const { token } = await customer();
    expect(await apply(token, coupon.code)).toEqual([]);
    const refusal = async (lines: ReturnType<typeof line>[]) => (await reserve(token, crypto.randomUUID(), lines)).errors.map((e) => [e.code, e.field]);
    expect(await refusal([line(shoe, 4_000)])).toEqual([['COUPON_MINIMUM_NOT_MET', null]]);
    expect(await refusal([line(undefined, 6_000)])).toEqual([['COUPON_NOT_APPLICABLE', null]]);
    expect(await refusal([{ productId: shoe, quantity: 1, unitPrice: { amount: 6_000, currency: 'EUR' } }])).toEqual([['COUPON_CURRENCY_MISMATCH', null]]);
    expect(await counts(coupon.code)).toEqual({ reserved: 0, redeemed: 0 });
    // Still applied: the customer can fix the cart.
    expect((await reserve(token, crypto.randomUUID(), [line(shoe, 800), line(undefined, 5_000)]))['redemption']).toEqual({ code: coupon.code, discount: usd(800) });
  });

  it('holds a per-customer limit while the customer applies and checks out concurrently', async () => {
    const coupon = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, perCustomerLimit: 2 });
    const { token, userId } = await customer();
    const results: string[] = [];
    for (let round = 0; round < 4; round++) {
      // Applied (while the limit allows), then applied again while its checkouts race for it.
      await apply(token, coupon.code);
      const [answers, applies] = await Promise.all([
        Promise.all(Array.from({ length: 10 }, () => reserve(token, crypto.randomUUID()))),
        Promise.all(Array.from({ length: 10 }, () => apply(token, coupon.code))),
      ]);
      results.push(...answers.map((a) => (a['redemption'] ? 'reserved' : (a.errors[0]?.code ?? 'no coupon'))));
      for (const codes of applies) expect([[], ['COUPON_CUSTOMER_LIMIT']]).toContainEqual(codes);
    }
    expect(results.filter((r) => r === 'reserved')).toHaveLength(2);
    for (const result of results) expect(['reserved', 'no coupon', 'COUPON_CUSTOMER_LIMIT']).toContain(result);
    expect(await service.sql('select count(*)::int as n from redemption where user_id = ? and status <> ?', [userId, 'RELEASED'])).toEqual([{ n: 2 }]);
    expect(await apply(token, coupon.code)).toEqual(['COUPON_CUSTOMER_LIMIT']);
  });

  it('refuses a use that became impossible after the coupon was applied', async () => {
    const coupon = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, perCustomerLimit: 3 });
    const { token } = await customer();
    for (let i = 0; i < 2; i++) {
      expect(await apply(token, coupon.code)).toEqual([]);
      expect((await reserve(token, crypto.randomUUID())).errors).toEqual([]);
    }
    expect(await apply(token, coupon.code)).toEqual([]);
    await mutate(UPDATE, { input: { id: coupon.id, perCustomerLimit: 2 } }, staff);
    expect((await reserve(token, crypto.randomUUID())).errors.map((e) => e.code)).toEqual(['COUPON_CUSTOMER_LIMIT']);
    await mutate(UPDATE, { input: { id: coupon.id, perCustomerLimit: null, endsAt: new Date(Date.now() - 1).toISOString() } }, staff);
    expect((await reserve(token, crypto.randomUUID())).errors.map((e) => e.code)).toEqual(['COUPON_EXPIRED']);
  });
});

describe('the checkout saga', () => {
  it('commits the use when the order is confirmed, once however often the events come', async () => {
    const coupon = await createCoupon({ kind: 'FIXED_AMOUNT', amountOff: usd(500), usageLimit: 10 });
    const order = await reservedOrder(coupon.code);
    const place = placed(order);
    const confirmed = statusChanged(order, 'CONFIRMED');
    await deliverInOrder(place, place);
    expect(await statusOf(order.orderId)).toEqual({ status: 'PLACED', reason: null });
    await deliverInOrder(statusChanged(order, 'STOCK_RESERVED'), confirmed, confirmed, statusChanged(order, 'CONFIRMED'), place);
    expect(handled.resultsOf(place)).toEqual(['processed', 'duplicate', 'duplicate']);
    expect(handled.resultsOf(confirmed)).toEqual(['processed', 'duplicate']);

    expect(await statusOf(order.orderId)).toEqual({ status: 'COMMITTED', reason: null });
    expect(await counts(coupon.code)).toEqual({ reserved: 0, redeemed: 1 });
    await observer.waitFor((r) => r.key === order.orderId);
    expect(published(order.orderId)).toEqual([
      { type: 'promotions.redemption.committed', data: { orderId: order.orderId, userId: order.userId, couponId: coupon.id, code: coupon.code, discount: usd(500) } },
    ]);
  });

  it('releases the use of an order that failed, once; late events change nothing', async () => {
    const coupon = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10, usageLimit: 3 });
    for (const status of ['PAYMENT_FAILED', 'OUT_OF_STOCK', 'REJECTED'] as const) {
      const order = await reservedOrder(coupon.code);
      const failed = statusChanged(order, status);
      await deliverInOrder(placed(order), failed, failed, statusChanged(order, 'CONFIRMED'));
      expect(await statusOf(order.orderId)).toEqual({ status: 'RELEASED', reason: status });
      await observer.waitFor((r) => r.key === order.orderId);
      expect(published(order.orderId)).toEqual([
        { type: 'promotions.redemption.released', data: { orderId: order.orderId, userId: order.userId, couponId: coupon.id, code: coupon.code, reason: status } },
      ]);
    }
    expect(await counts(coupon.code)).toEqual({ reserved: 0, redeemed: 0 });
    // Released uses are free again.
    await reservedOrder(coupon.code);
  });

  it('releases on cancellation; a confirmed order\'s cancellation waits for shipping\'s verdict', async () => {
    const coupon = await createCoupon({ kind: 'PERCENTAGE', percentOff: 10 });
    const pending = await reservedOrder(coupon.code);
    const cancelPending = cancelled(pending, 'PENDING');
    await deliverInOrder(placed(pending), cancelPending, cancelPending);
    expect(await statusOf(pending.orderId)).toEqual({ status: 'RELEASED', reason: 'CANCELLED' });

    const confirmed = await reservedOrder(coupon.code);
    await deliverInOrder(placed(confirmed), statusChanged(confirmed, 'CONFIRMED'), cancelled(confirmed, 'CONFIRMED'));
    expect(await statusOf(confirmed.orderId)).toEqual({ status: 'COMMITTED', reason: null });
    expect(await counts(coupon.code)).toEqual({ reserved: 0, redeemed: 1 });
    const stopped = shipmentCancelled(confirmed);
    await deliverInOrder(stopped, stopped, shipmentCancelled(confirmed));
    expect(await statusOf(confirmed.orderId)).toEqual({ status: 'RELEASED', reason: 'CANCELLED' });
    expect(await counts(coupon.code)).toEqual({ reserved: 0, redeemed: 0 });
    await observer.waitFor((r) => r.key === confirmed.orderId, 2);
    expect(published(confirmed.orderId).map((e) => e.type)).toEqual(['promotions.redemption.committed', 'promotions.redemption.released']);

    // The goods left: no verdict comes, the use stays committed.
    const shipped = await reservedOrder(coupon.code);
    await deliverInOrder(placed(shipped), statusChanged(shipped, 'CONFIRMED'), cancelled(shipped, 'CONFIRMED'), statusChanged(shipped, 'SHIPPED'));
    expect(await statusOf(shipped.orderId)).toEqual({ status: 'COMMITTED', reason: null });
  });

  it('inserts nothing for orders it holds no use of', async () => {
    const stranger = { orderId: crypto.randomUUID(), userId: crypto.randomUUID() };
    const coupon = { code: 'GHOST', discount: usd(100) };
    await deliverInOrder(placed({ ...stranger, redemption: coupon }), statusChanged(stranger, 'CONFIRMED'), cancelled(stranger, 'PENDING'), shipmentCancelled(stranger), statusChanged(stranger, 'PAYMENT_FAILED'));
    expect(await service.sql('select id from redemption where id = ?', [stranger.orderId])).toEqual([]);
    // An order without a coupon is not even looked up.
    const plain = placed(stranger);
    await deliverInOrder(plain);
    expect(handled.resultsOf(plain)).toEqual(['ignored']);
  });
});

describe('metrics', () => {
  it('counts reservations by result and redemptions by outcome', async () => {
    const response = await fetch(`${service.base}/metrics`);
    const text = await response.text();
    expect(text).toMatch(/shopgraph_coupon_reservations_total\{result="reserved",service="promotions"\} \d+/);
    expect(text).toMatch(/shopgraph_coupon_reservations_total\{result="coupon_exhausted",service="promotions"\} 300/);
    expect(text).toMatch(/shopgraph_coupon_redemptions_total\{outcome="committed",service="promotions"\} [1-9]/);
    expect(text).toMatch(/shopgraph_coupon_redemptions_total\{outcome="released",service="promotions"\} [1-9]/);
  });
});
