import { graphql } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, ADDRESS, createProduct, sql, staffToken, statuses, until, watchOrder } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Coupons and fraud screening as saga participants, end to end: the router, every subgraph, real
// Postgres and a real Kafka.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;

const usd = (amount: number) => ({ amount, currency: 'USD' });
const FINAL = ['CONFIRMED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED'];

beforeAll(async () => {
  // 200 carts and checkouts at once share this one process (and the machine other test files):
  // more than the 3 s and 5 s defaults.
  graph = await startSupergraph({ CHECKOUT_TIMEOUT_MS: '30000', PRODUCT_LOOKUP_TIMEOUT_MS: '30000' });
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);

/** Runs a mutation and returns its payload, failing on GraphQL errors. */
async function mutate(name: string, variables: Record<string, unknown>, token?: string) {
  const response = await call(name, variables, token);
  expect(response.errors, `${name}: ${JSON.stringify(response.errors)}`).toBeUndefined();
  return Object.values(response.data!)[0] as { errors: { code: string; message: string }[]; [field: string]: any };
}

async function coupon(input: Record<string, unknown>) {
  const created = await mutate('CreateCoupon', { input: { description: 'e2e', ...input } }, staff);
  expect(created.errors).toEqual([]);
  return created['coupon'] as { id: string; code: string };
}

/** A new customer with `quantity` of `productId` in the cart and, if given, `code` applied. */
async function shopper(productId: string, quantity = 1, code?: string) {
  const token = await signer.customer();
  expect((await mutate('AddToCart', { input: { productId, quantity } }, token)).errors).toEqual([]);
  if (code) expect((await mutate('ApplyCoupon', { input: { code } }, token)).errors).toEqual([]);
  return token;
}

const place = (token: string, paymentMethod = 'pm_card_visa') =>
  mutate('PlaceOrder', { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: ADDRESS, paymentMethod } }, token);

async function settled(orderId: string, token: string, statuses = FINAL) {
  return until(`order ${orderId} in ${statuses.join('/')}`, async () => {
    const order = (await call('Order', { id: orderId }, token)).data?.['order'];
    return statuses.includes(order?.status) && order;
  }, 60_000);
}

const couponCounts = async (code: string) => {
  const [row] = await sql<{ redeemed: number; reserved: number }>(graph.databaseUrls['promotions']!, 'select redeemed_count as redeemed, reserved_count as reserved from coupon where code = $1', [code]);
  return row!;
};
const available = async (productId: string): Promise<number> => (await call('Product', { id: productId })).data!['product'].availableQuantity;
const charges = (orderId: string) => sql(graph.databaseUrls['payments']!, `select kind, amount, outcome from test_provider_charge where idempotency_key in ($1::text, 'refund:' || $1::text) order by kind`, [orderId]);

describe('coupons', () => {
  it('shows the applied coupon, its discount and the total on the cart; explains why it does not apply; refuses bad codes with typed errors', async () => {
    const lamp = await createProduct(graph, staff, { sku: 'E2E-PROMO-LAMP', name: 'Lamp', price: 2_000, stock: 50 });
    await coupon({ code: 'TENOFF', kind: 'PERCENTAGE', percentOff: 10, minimumSubtotal: usd(3_000) });
    await coupon({ code: 'HUGE', kind: 'FIXED_AMOUNT', amountOff: usd(1_000_000) });
    await coupon({ code: 'LATER', kind: 'PERCENTAGE', percentOff: 5, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    await coupon({ code: 'OVER', kind: 'PERCENTAGE', percentOff: 5, endsAt: new Date(Date.now() - 1_000).toISOString(), startsAt: new Date(Date.now() - 86_400_000).toISOString() });
    const token = await shopper(lamp, 1);
    const refusals = async (code: string) => (await mutate('ApplyCoupon', { input: { code } }, token)).errors.map((e) => e.code);
    expect(await refusals('NOPE')).toEqual(['COUPON_NOT_FOUND']);
    expect(await refusals('LATER')).toEqual(['COUPON_NOT_STARTED']);
    expect(await refusals('OVER')).toEqual(['COUPON_EXPIRED']);

    // Below the minimum the code stays applied, with the reason, and takes nothing off.
    const applied = await mutate('ApplyCoupon', { input: { code: 'tenoff' } }, token);
    expect(applied.errors).toEqual([]);
    expect(applied['cart']).toMatchObject({ subtotal: usd(2_000), discount: null, total: usd(2_000), coupon: { code: 'TENOFF', problem: { code: 'COUPON_MINIMUM_NOT_MET' } } });
    const updated = await mutate('UpdateCartLine', { input: { productId: lamp, quantity: 2 } }, token);
    expect(updated['cart']).toMatchObject({ subtotal: usd(4_000), discount: usd(400), total: usd(3_600), coupon: { code: 'TENOFF', problem: null } });

    // One coupon per cart; the one applied may be applied again.
    expect(await refusals('HUGE')).toEqual(['COUPON_ALREADY_APPLIED']);
    expect(await refusals('TENOFF')).toEqual([]);

    // A coupon larger than the cart takes the total to zero, never below.
    expect((await mutate('RemoveCoupon', {}, token))['cart']).toMatchObject({ coupon: null, discount: null, total: usd(4_000) });
    expect((await mutate('ApplyCoupon', { input: { code: 'HUGE' } }, token))['cart']).toMatchObject({ discount: usd(4_000), total: usd(0) });

    // Customers may not manage coupons.
    expect((await call('CreateCoupon', { input: { code: 'MINE', kind: 'PERCENTAGE', percentOff: 100 } }, token)).errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const invalid = await mutate('CreateCoupon', { input: { code: 'x', kind: 'PERCENTAGE', percentOff: 0 } }, staff);
    expect(invalid.errors.map((e) => e.code).sort()).toEqual(['INVALID_CODE', 'INVALID_PERCENT']);
  });

  it('gives a coupon limited to 50 uses to exactly 50 of 200 concurrent orders; the rest are refused, placing nothing', async () => {
    const kettle = await createProduct(graph, staff, { sku: 'E2E-PROMO-KETTLE', name: 'Kettle', price: 4_000, stock: 1_000 });
    await coupon({ code: 'FLASH50', kind: 'FIXED_AMOUNT', amountOff: usd(500), usageLimit: 50 });
    // Carts filled 25 at a time (what races is placing the orders, below, all 200 at once).
    const shoppers: string[] = [];
    for (let i = 0; i < 200; i += 25) shoppers.push(...(await Promise.all(Array.from({ length: 25 }, () => shopper(kettle, 1, 'FLASH50')))));

    const results = await Promise.all(shoppers.map(async (token) => {
      const { order, errors } = await place(token);
      return { token, order, errors };
    }));
    const placed = results.filter((r) => r.errors.length === 0);
    const refused = results.filter((r) => r.errors.length > 0);
    expect(placed).toHaveLength(50);
    expect(new Set(refused.map((r) => r.errors.map((e) => e.code).join()))).toEqual(new Set(['COUPON_EXHAUSTED']));
    for (const { order } of placed) expect(order).toMatchObject({ coupon: 'FLASH50', discount: usd(500), total: usd(3_500) });
    expect(await couponCounts('FLASH50')).toMatchObject({ redeemed: expect.any(Number), reserved: expect.any(Number) });

    const confirmed = await Promise.all(placed.map(({ order, token }) => settled(order.id, token)));
    expect(confirmed.map((o) => o.status)).toEqual(Array(50).fill('CONFIRMED'));
    for (const order of confirmed) expect(order.payment).toMatchObject({ status: 'SUCCEEDED', amount: usd(3_500) });
    await until('50 redemptions committed', async () => {
      const counts = await couponCounts('FLASH50');
      return counts.redeemed === 50 && counts.reserved === 0;
    });
    expect(await sql(graph.databaseUrls['promotions']!, `select status, count(*)::int as n from redemption r join coupon c on c.id = r.coupon_id where c.code = 'FLASH50' group by status`)).toEqual([{ status: 'COMMITTED', n: 50 }]);
    expect(await available(kettle)).toBe(950);
    // A refused customer's cart still holds the coupon and the lines; the coupon now says why it cannot be used.
    const cart = (await call('Cart', {}, refused[0]!.token)).data!['cart'];
    expect(cart).toMatchObject({ lines: [{ product: { id: kettle }, quantity: 1 }], coupon: { code: 'FLASH50', problem: { code: 'COUPON_EXHAUSTED' } } });
  }, 180_000);

  it('releases the use when the payment fails, and when a confirmed order is cancelled, refunding the discounted amount', async () => {
    const mug = await createProduct(graph, staff, { sku: 'E2E-PROMO-MUG', name: 'Mug', price: 1_250, stock: 20 });
    await coupon({ code: 'ONCE', kind: 'PERCENTAGE', percentOff: 20, usageLimit: 1 });

    const declined = await shopper(mug, 2, 'ONCE');
    const first = await place(declined, 'pm_card_chargeDeclined');
    expect(first.errors).toEqual([]);
    expect(first['order']).toMatchObject({ discount: usd(500), total: usd(2_000) });
    expect((await settled(first['order'].id, declined)).status).toBe('PAYMENT_FAILED');
    await until('the failed order\'s use released', async () => (await couponCounts('ONCE')).reserved === 0);

    // The one use is free again.
    const buyer = await shopper(mug, 2, 'ONCE');
    const second = await place(buyer);
    expect(second.errors).toEqual([]);
    const order = await settled(second['order'].id, buyer);
    expect(order).toMatchObject({ status: 'CONFIRMED', coupon: 'ONCE', total: usd(2_000), payment: { status: 'SUCCEEDED', amount: usd(2_000) } });
    await until('the use committed', async () => (await couponCounts('ONCE')).redeemed === 1);

    expect((await mutate('CancelOrder', { input: { orderId: order.id } }, buyer)).errors).toEqual([]);
    const refunded = await until('the refund', async () => {
      const o = (await call('Order', { id: order.id }, buyer)).data!['order'];
      return o.payment.status === 'REFUNDED' && o;
    });
    expect(refunded.payment.amount).toEqual(usd(2_000));
    expect(await charges(order.id)).toEqual([{ kind: 'charge', amount: 2_000, outcome: 'succeeded' }, { kind: 'refund', amount: 2_000, outcome: 'succeeded' }]);
    await until('the cancelled order\'s use released', async () => {
      const counts = await couponCounts('ONCE');
      return counts.redeemed === 0 && counts.reserved === 0;
    });
  });
});

describe('fraud screening', () => {
  it('holds an order over a staff threshold for review, live; approved it is charged once, rejected it is compensated', async () => {
    const bike = await createProduct(graph, staff, { sku: 'E2E-FRAUD-BIKE', name: 'Bike', price: 90_000, stock: 10 });
    const created = await mutate('CreateFraudRule', { input: { name: 'Orders over $500', kind: 'AMOUNT_OVER', amount: usd(50_000) } }, staff);
    expect(created.errors).toEqual([]);
    const rule = created['rule'];
    try {
      const invalid = await mutate('CreateFraudRule', { input: { name: 'Bad', kind: 'CUSTOMER_VELOCITY', maxOrders: 0, windowSeconds: 60 } }, staff);
      expect(invalid.errors.map((e) => e.code)).toEqual(['INVALID_THRESHOLD']);

      const approvedBuyer = await shopper(bike);
      const approved = (await place(approvedBuyer))['order'];
      const watch = await watchOrder(graph.routerUrl, approvedBuyer, approved.id, { after: 0 });
      try {
        await watch.through(3);
        expect(statuses(watch.events)).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'UNDER_REVIEW']]);
        expect(watch.events[2]!.reason).toBe('Held for a payment review');
        expect(await charges(approved.id)).toEqual([]);

        // Staff see why; the customer does not.
        const screening = (await call('OrderScreening', { id: approved.id }, staff)).data!['order'].screening;
        expect(screening).toMatchObject({ decision: 'REVIEW', rulesFired: [{ ruleId: rule.id, name: 'Orders over $500', kind: 'AMOUNT_OVER' }], decidedAt: null });
        expect((await call('OrderScreening', { id: approved.id }, approvedBuyer)).data!['order'].screening).toBeNull();
        const queue = (await call('OrdersInReview', { first: 50 }, staff)).data!['ordersInReview'];
        expect(queue.edges.map((e: any) => e.node.id)).toContain(approved.id);
        expect((await call('ApproveOrder', { input: { orderId: approved.id } }, approvedBuyer)).errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');

        expect((await mutate('ApproveOrder', { input: { orderId: approved.id } }, staff)).errors).toEqual([]);
        await watch.through(4);
        expect(watch.events[3]!.status).toBe('CONFIRMED');
      } finally {
        await watch.close();
      }
      expect(await charges(approved.id)).toEqual([{ kind: 'charge', amount: 90_000, outcome: 'succeeded' }]);
      expect((await mutate('ApproveOrder', { input: { orderId: approved.id } }, staff)).errors.map((e) => e.code)).toEqual(['ORDER_NOT_IN_REVIEW']);

      const rejectedBuyer = await shopper(bike);
      const rejected = (await place(rejectedBuyer))['order'];
      await settled(rejected.id, rejectedBuyer, ['UNDER_REVIEW']);
      expect(await available(bike)).toBe(8);
      expect((await mutate('RejectOrder', { input: { orderId: rejected.id, reason: ' ' } }, staff)).errors.map((e) => e.code)).toEqual(['INVALID_REASON']);
      expect((await mutate('RejectOrder', { input: { orderId: rejected.id, reason: 'Card reported stolen' } }, staff)).errors).toEqual([]);
      const final = await settled(rejected.id, rejectedBuyer);
      expect(final).toMatchObject({ status: 'REJECTED', payment: { status: 'REJECTED' } });
      expect(final.statusHistory.at(-1)).toMatchObject({ status: 'REJECTED', reason: 'Rejected after a payment review' });
      expect(await charges(rejected.id)).toEqual([]);
      await until('the rejected order\'s stock released', async () => (await available(bike)) === 9);
      await until('the lines back in the cart', async () => (await call('Cart', {}, rejectedBuyer)).data!['cart'].lines.length === 1);
      expect((await call('OrderScreening', { id: rejected.id }, staff)).data!['order'].screening).toMatchObject({ decision: 'REJECTED', reason: 'Card reported stolen', decidedAt: expect.any(String) });
    } finally {
      await mutate('UpdateFraudRule', { input: { ruleId: rule.id, enabled: false } }, staff);
    }
  });
});
