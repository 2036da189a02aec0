import { createLogger, DomainError, type Orm } from '@shopgraph/kit';
import {
  consumerOutcomes, errorCodes, eventProducer, graphql, observe,
  type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer,
} from '@shopgraph/testkit';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { subgraphCheckoutSource } from '../src/clients/checkout-source.client.ts';
import { OrdersService } from '../src/domain/orders.service.ts';
import { address, ORDER, orderEvent, PLACE, publishedEvents, standInCheckout, startOrders } from './support.ts';

const checkout = standInCheckout();
const consumed = consumerOutcomes();
const logger = createLogger('orders', 'silent');

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
let published: EventObserver;
const queries: string[] = [];

beforeAll(async () => {
  // The sweeper has its own test file; here no order may time out under a test.
  service = await startOrders({ checkout: checkout.source, onSagaMessage: consumed.record, onQuery: (sql) => queries.push(sql) }, { env: { SAGA_TIMEOUT_MS: '600000' } });
  ({ url, issuer, orm } = service);
  producer = eventProducer();
  published = await observe('orders.order.v1');
});
afterAll(async () => {
  await published?.close();
  await producer?.close();
  await service?.close();
});

interface Line { productId: string; quantity: number; unitPrice: { amount: number; currency: string } }
const usd = (amount: number) => ({ amount, currency: 'USD' });

/** A customer with a cart (by default two lines: 2 × 12.50 and 1 × 5.00). */
async function customer(lines?: Line[]) {
  const userId = crypto.randomUUID();
  const token = await issuer.customer(userId);
  checkout.carts.set(token, lines ?? [
    { productId: crypto.randomUUID(), quantity: 2, unitPrice: usd(1250) },
    { productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(500) },
  ]);
  return { userId, token };
}

async function place(token: string, input: Record<string, unknown> = {}) {
  const response = await graphql(url, PLACE, { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: address, paymentMethod: 'pm_card_visa', ...input } }, token);
  expect(response.errors).toBeUndefined();
  return response.data!['placeOrder'] as { order: any; errors: { code: string; message: string; field: string[] | null }[] };
}

async function placed(token: string): Promise<string> {
  const { order, errors } = await place(token);
  expect(errors).toEqual([]);
  return order.id;
}

const CANCEL = `mutation($input: CancelOrderInput!) { cancelOrder(input: $input) { order { id status } errors { code field } } }`;
async function cancel(token: string, orderId: string) {
  const response = await graphql(url, CANCEL, { input: { orderId } }, token);
  expect(response.errors).toBeUndefined();
  return response.data!['cancelOrder'] as { order: { id: string; status: string } | null; errors: { code: string; field: string[] }[] };
}

async function orderAs(token: string | undefined, id: string) {
  const response = await graphql(url, ORDER, { id }, token);
  expect(response.errors).toBeUndefined();
  return response.data!['order'];
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await orm.em.fork().execute<{ n: number }[]>(`select count(*)::int as n from ${sql}`, params);
  return row!.n;
}
const ordersOf = (userId: string) => count('customer_order where user_id = ?', [userId]);
const outboxOf = (type: string, orderId: string) => count(`outbox_message where type = ? and key = ?`, [type, orderId]);

/** Statuses of an order's history, read by its owner through the API. */
async function history(token: string, id: string): Promise<[number, string, string | null][]> {
  const order = await orderAs(token, id);
  return order.statusHistory.map((c: any) => [c.version, c.status, c.reason]);
}

async function waitForStatus(token: string, id: string, status: string) {
  await vi.waitFor(async () => expect((await orderAs(token, id)).status).toBe(status), { timeout: 15_000, interval: 50 });
}

const publishedFor = (orderId: string, type: string) => publishedEvents(published).filter((e) => e.subject === orderId && e.type === type);

describe('placeOrder', () => {
  it('writes the order (PENDING) with its lines, status v1, and publishes order.placed and status-changed', async () => {
    const { userId, token } = await customer();
    const [a, b] = checkout.carts.get(token)!;
    queries.length = 0;
    const { order, errors } = await place(token, { paymentMethod: 'pm_card_visa', shippingAddress: { ...address, country: 'gb', line2: 'Flat 3' } });
    expect(errors).toEqual([]);
    // The answer shows the lines and history the transaction wrote, without reading them back, and as a later read shows them.
    expect(queries.filter((sql) => /\bfrom "(order_line|order_status_change)"/.test(sql))).toEqual([]);
    const readBack = (await graphql(url, `query($id: ID!) { order(id: $id) { ${PLACE.match(/order \{ (.*) \}\n/)![1]} } }`, { id: order.id }, token)).data!['order'];
    expect(order).toEqual(readBack);
    expect(order).toMatchObject({
      status: 'PENDING',
      total: usd(3000),
      lines: [
        { product: { id: a!.productId }, quantity: 2, unitPrice: usd(1250), lineTotal: usd(2500) },
        { product: { id: b!.productId }, quantity: 1, unitPrice: usd(500), lineTotal: usd(500) },
      ],
      statusHistory: [{ version: 1, status: 'PENDING', reason: null }],
    });
    expect(new Date(order.createdAt).toISOString()).toBe(order.createdAt);
    expect(checkout.calls.at(-1)).toEqual({ token, paymentMethod: 'pm_card_visa' });
    expect(await ordersOf(userId)).toBe(1);
    expect(await outboxOf('orders.order.placed', order.id)).toBe(1);
    expect(await outboxOf('orders.order.status-changed', order.id)).toBe(1);

    await vi.waitFor(() => expect(publishedFor(order.id, 'orders.order.status-changed')).toHaveLength(1), { timeout: 15_000 });
    const [placedEvent] = publishedFor(order.id, 'orders.order.placed');
    expect(placedEvent).toMatchObject({
      key: order.id,
      source: 'orders',
      data: {
        orderId: order.id,
        userId,
        lines: [{ productId: a!.productId, quantity: 2, unitPrice: usd(1250) }, { productId: b!.productId, quantity: 1, unitPrice: usd(500) }],
        total: usd(3000),
        paymentMethod: 'pm_card_visa',
        shippingAddress: { ...address, line2: 'Flat 3', country: 'GB' },
      },
    });
    expect(publishedFor(order.id, 'orders.order.status-changed')[0]).toMatchObject({ key: order.id, data: { orderId: order.id, userId, version: 1, status: 'PENDING', reason: null } });
  });

  it("places the cart with its coupon's discount off the total, on the order and in order.placed; a refused coupon places nothing", async () => {
    const { userId, token } = await customer();
    checkout.coupons.set(token, { code: 'SAVE10', discount: usd(300) });
    const { order, errors } = await place(token);
    expect(errors).toEqual([]);
    expect(order).toMatchObject({ coupon: 'SAVE10', discount: usd(300), total: usd(2700) });
    // Reserved for the order id the order got.
    expect(checkout.reservations.get(order.id)).toEqual({ code: 'SAVE10', discount: usd(300) });
    await vi.waitFor(() => expect(publishedFor(order.id, 'orders.order.placed')).toHaveLength(1), { timeout: 15_000 });
    expect(publishedFor(order.id, 'orders.order.placed')[0]!.data).toMatchObject({ total: usd(2700), coupon: { code: 'SAVE10', discount: usd(300) } });

    const plain = await customer();
    const without = await place(plain.token);
    expect(without.order).toMatchObject({ coupon: null, discount: null, total: usd(3000) });
    await vi.waitFor(() => expect(publishedFor(without.order.id, 'orders.order.placed')).toHaveLength(1), { timeout: 15_000 });
    expect(publishedFor(without.order.id, 'orders.order.placed')[0]!.data).not.toHaveProperty('coupon');

    checkout.coupons.set(token, new DomainError('COUPON_EXHAUSTED', 'SAVE10 has been used up'));
    const refused = await place(token);
    expect(refused).toEqual({ order: null, errors: [{ code: 'COUPON_EXHAUSTED', message: 'SAVE10 has been used up', field: null }] });
    // A discount promotions could not have given (more than the lines' sum) is its failure, never a negative total.
    checkout.coupons.set(token, { code: 'BROKEN', discount: usd(3001) });
    expect((await place(token)).errors.map((e) => e.code)).toEqual(['CHECKOUT_UNAVAILABLE']);
    expect(await ordersOf(userId)).toBe(1);
  });

  it('commits nothing, neither order nor events, when the transaction fails after the order is written', async () => {
    // Fails the commit (a deferred constraint trigger runs at COMMIT, after every insert) of any
    // transaction that wrote an outbox row for the marked payment method.
    const em = orm.em.fork();
    await em.execute(`create function fail_marked() returns trigger language plpgsql as $$
      begin if new.envelope::text like '%pm_explode%' then raise exception 'injected failure'; end if; return null; end $$`);
    await em.execute('create constraint trigger fail_marked after insert on outbox_message deferrable initially deferred for each row execute function fail_marked()');
    checkout.paymentMethods.add('pm_explode');
    const { userId, token } = await customer();
    try {
      const response = await graphql(url, PLACE, { input: { idempotencyKey: 'boom', shippingAddress: address, paymentMethod: 'pm_explode' } }, token);
      expect(errorCodes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(await ordersOf(userId)).toBe(0);
      expect(await count(`order_line l where not exists (select 1 from customer_order o where o.id = l.order_id)`)).toBe(0);
      expect(await count(`outbox_message where envelope::text like '%pm_explode%'`)).toBe(0);
    } finally {
      await em.execute('drop trigger fail_marked on outbox_message');
      await em.execute('drop function fail_marked()');
    }
    // The same request goes through once the failure is gone: the key was never taken.
    const { order, errors } = await place(token, { idempotencyKey: 'boom', paymentMethod: 'pm_explode' });
    expect(errors).toEqual([]);
    expect(await ordersOf(userId)).toBe(1);
    expect(await outboxOf('orders.order.placed', order.id)).toBe(1);
  });

  it('answers the same idempotency key with the same order, and never makes a second one', async () => {
    const { userId, token } = await customer();
    const first = await place(token, { idempotencyKey: 'checkout-1' });
    checkout.carts.set(token, [{ productId: crypto.randomUUID(), quantity: 9, unitPrice: usd(1) }]);
    const again = await place(token, { idempotencyKey: 'checkout-1' });
    expect(again.errors).toEqual([]);
    expect(again.order).toEqual(first.order);
    expect(await ordersOf(userId)).toBe(1);

    // The key is the customer's own: someone else using it places their own order.
    const other = await customer();
    expect((await place(other.token, { idempotencyKey: 'checkout-1' })).order.id).not.toBe(first.order.id);
  });

  it('makes one order of 10 concurrent placements with one key', async () => {
    const { userId, token } = await customer();
    const results = await Promise.all(Array.from({ length: 10 }, () => place(token, { idempotencyKey: 'double-click' })));
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const ids = new Set(results.map((r) => r.order.id));
    expect(ids.size).toBe(1);
    expect(await ordersOf(userId)).toBe(1);
    const [id] = ids;
    expect(await outboxOf('orders.order.placed', id!)).toBe(1);
    expect(await count('order_status_change where order_id = ?', [id])).toBe(1);
  });

  it('reports EMPTY_CART, UNKNOWN_PAYMENT_METHOD, INVALID_ADDRESS, INVALID_IDEMPOTENCY_KEY and CHECKOUT_UNAVAILABLE, writing nothing', async () => {
    const { userId, token } = await customer();
    const cases: [Record<string, unknown>, { code: string; field: string[] | null }][] = [
      [{ paymentMethod: 'pm_nope' }, { code: 'UNKNOWN_PAYMENT_METHOD', field: ['input', 'paymentMethod'] }],
      [{ shippingAddress: { ...address, country: 'XX' } }, { code: 'INVALID_ADDRESS', field: ['input', 'shippingAddress', 'country'] }],
      [{ shippingAddress: { ...address, country: 'GBR' } }, { code: 'INVALID_ADDRESS', field: ['input', 'shippingAddress', 'country'] }],
      [{ shippingAddress: { ...address, line1: '  ' } }, { code: 'INVALID_ADDRESS', field: ['input', 'shippingAddress', 'line1'] }],
      [{ shippingAddress: { ...address, postalCode: '' } }, { code: 'INVALID_ADDRESS', field: ['input', 'shippingAddress', 'postalCode'] }],
      [{ idempotencyKey: '' }, { code: 'INVALID_IDEMPOTENCY_KEY', field: ['input', 'idempotencyKey'] }],
      [{ idempotencyKey: 'k'.repeat(101) }, { code: 'INVALID_IDEMPOTENCY_KEY', field: ['input', 'idempotencyKey'] }],
    ];
    for (const [input, error] of cases) {
      const { order, errors } = await place(token, input);
      expect(order).toBeNull();
      expect(errors).toEqual([{ ...error, message: expect.any(String) }]);
    }

    checkout.carts.set(token, []);
    expect(await place(token)).toEqual({ order: null, errors: [{ code: 'EMPTY_CART', message: 'Your cart is empty', field: null }] });

    checkout.unavailable.add(token);
    expect((await place(token)).errors.map((e) => e.code)).toEqual(['CHECKOUT_UNAVAILABLE']);
    expect(await ordersOf(userId)).toBe(0);
  });

  it('answers CHECKOUT_UNAVAILABLE when the subgraphs it reads cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const nowhere = `http://127.0.0.1:${closedPort}/graphql`;
    const offline = new OrdersService(orm.em.fork(), subgraphCheckoutSource({ urls: { cart: nowhere, catalog: nowhere, payments: nowhere, promotions: nowhere }, timeoutMs: 1000, logger }));
    const viewer = { userId: crypto.randomUUID(), scopes: new Set(['customer']), expiresAt: 0 };
    await expect(offline.placeOrder(viewer, { idempotencyKey: 'k', shippingAddress: address, paymentMethod: 'pm_card_visa' }, 'tok')).rejects.toMatchObject({ code: 'CHECKOUT_UNAVAILABLE' });
    expect(await ordersOf(viewer.userId)).toBe(0);
  });

  it('refuses anonymous callers', async () => {
    const response = await graphql(url, PLACE, { input: { idempotencyKey: 'x', shippingAddress: address, paymentMethod: 'pm_card_visa' } });
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('the checkout saga as orders observes it', () => {
  it('moves the order with each step, versions 1, 2, 3… and publishes each change', async () => {
    const { token } = await customer();
    const id = await placed(token);
    const paymentId = crypto.randomUUID();
    const shipment = { orderId: id, shipmentId: crypto.randomUUID(), trackingNumber: 'TRK123' };

    await producer.send(orderEvent('inventory.stock.reserved', { orderId: id, lines: [] }));
    await waitForStatus(token, id, 'STOCK_RESERVED');
    await producer.send(orderEvent('payments.payment.succeeded', { orderId: id, paymentId, amount: usd(3000) }));
    await waitForStatus(token, id, 'CONFIRMED');
    await producer.send(orderEvent('shipping.shipment.shipped', { ...shipment, at: new Date().toISOString() }));
    await waitForStatus(token, id, 'SHIPPED');
    await producer.send(orderEvent('shipping.shipment.delivered', { ...shipment, at: new Date().toISOString() }));
    await waitForStatus(token, id, 'DELIVERED');

    expect(await history(token, id)).toEqual([
      [1, 'PENDING', null],
      [2, 'STOCK_RESERVED', null],
      [3, 'CONFIRMED', null],
      [4, 'SHIPPED', 'Tracking number TRK123'],
      [5, 'DELIVERED', null],
    ]);
    const order = await orderAs(token, id);
    const times = order.statusHistory.map((c: any) => Date.parse(c.at));
    expect(times).toEqual([...times].sort((x: number, y: number) => x - y));
    expect(order.statusHistory.every((c: any) => c.order.id === id)).toBe(true);

    await vi.waitFor(() => expect(publishedFor(id, 'orders.order.status-changed').map((e) => (e.data as any).version)).toEqual([1, 2, 3, 4, 5]), { timeout: 15_000 });
    expect(publishedFor(id, 'orders.order.status-changed').map((e) => (e.data as any).status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'SHIPPED', 'DELIVERED']);
  });

  it('records OUT_OF_STOCK naming the short products, and PAYMENT_FAILED with the reason', async () => {
    const short = crypto.randomUUID();
    const { token } = await customer([{ productId: short, quantity: 3, unitPrice: usd(100) }]);
    const outOfStock = await placed(token);
    const declined = await placed(token);

    await producer.send(
      orderEvent('inventory.stock.rejected', { orderId: outOfStock, reason: 'insufficient stock', shortages: [{ productId: short, requested: 3, available: 1 }] }),
      orderEvent('inventory.stock.reserved', { orderId: declined, lines: [{ productId: short, quantity: 3 }] }),
    );
    await waitForStatus(token, outOfStock, 'OUT_OF_STOCK');
    // Payments answers only after the reservation (another topic: Kafka does not order the two).
    await waitForStatus(token, declined, 'STOCK_RESERVED');
    await producer.send(orderEvent('payments.payment.failed', { orderId: declined, paymentId: crypto.randomUUID(), amount: usd(300), code: 'card_declined', reason: 'Your card was declined' }));
    await waitForStatus(token, declined, 'PAYMENT_FAILED');
    expect(await history(token, outOfStock)).toEqual([[1, 'PENDING', null], [2, 'OUT_OF_STOCK', `Out of stock: product ${short} (3 requested, 1 available)`]]);
    expect(await history(token, declined)).toEqual([[1, 'PENDING', null], [2, 'STOCK_RESERVED', null], [3, 'PAYMENT_FAILED', 'Your card was declined (card_declined)']]);
  });

  it('holds a screened order UNDER_REVIEW until staff approve (CONFIRMED) or reject it (REJECTED, final)', async () => {
    const { token } = await customer();
    const [approved, rejected, withdrawn] = [await placed(token), await placed(token), await placed(token)];
    const rules = [{ ruleId: crypto.randomUUID(), name: 'Orders over $20', kind: 'AMOUNT_OVER' }];
    // Held before the reservation was seen (another topic): the reservation is implied.
    await producer.send(...[approved, rejected, withdrawn].map((orderId) => orderEvent('payments.payment.review-required', { orderId, paymentId: crypto.randomUUID(), amount: usd(3000), rules })));
    for (const id of [approved, rejected, withdrawn]) await waitForStatus(token, id, 'UNDER_REVIEW');
    await producer.send(
      orderEvent('payments.payment.succeeded', { orderId: approved, paymentId: crypto.randomUUID(), amount: usd(3000) }),
      orderEvent('payments.payment.rejected', { orderId: rejected, paymentId: crypto.randomUUID(), amount: usd(3000), reason: 'Card reported stolen' }),
    );
    await waitForStatus(token, approved, 'CONFIRMED');
    await waitForStatus(token, rejected, 'REJECTED');
    expect((await cancel(token, withdrawn)).errors).toEqual([]);

    expect(await history(token, approved)).toEqual([[1, 'PENDING', null], [2, 'STOCK_RESERVED', null], [3, 'UNDER_REVIEW', 'Held for a payment review'], [4, 'CONFIRMED', null]]);
    // Staff's reason and the rules that fired are not the customer's to read.
    expect(await history(token, rejected)).toEqual([[1, 'PENDING', null], [2, 'STOCK_RESERVED', null], [3, 'UNDER_REVIEW', 'Held for a payment review'], [4, 'REJECTED', 'Rejected after a payment review']]);
    expect((await history(token, withdrawn)).at(-1)).toEqual([4, 'CANCELLED', 'cancelled by the customer']);
    await vi.waitFor(() => expect(publishedFor(withdrawn, 'orders.order.cancelled')).toHaveLength(1), { timeout: 15_000 });
    expect(publishedFor(withdrawn, 'orders.order.cancelled')[0]!.data).toMatchObject({ previousStatus: 'UNDER_REVIEW' });
    expect((await cancel(token, rejected)).errors.map((e) => e.code)).toEqual(['ORDER_NOT_CANCELLABLE']);
  });

  it('applies an event delivered twice once', async () => {
    const { token } = await customer();
    const id = await placed(token);
    const reserved = orderEvent('inventory.stock.reserved', { orderId: id, lines: [] });
    await producer.send(reserved, reserved);
    await vi.waitFor(() => expect(consumed.resultsOf(reserved)).toEqual(['processed', 'duplicate']), { timeout: 15_000 });
    // A second event (new id) reporting the same step changes nothing either.
    const again = orderEvent('inventory.stock.reserved', { orderId: id, lines: [] });
    await producer.send(again);
    await vi.waitFor(() => expect(consumed.resultsOf(again)).toEqual(['processed']), { timeout: 15_000 });
    expect(await history(token, id)).toEqual([[1, 'PENDING', null], [2, 'STOCK_RESERVED', null]]);
    expect(await count('order_status_change where order_id = ?', [id])).toBe(2);
  });

  it('ignores late and illegal steps without error: a final order stays final', async () => {
    const { token } = await customer();
    const cancelled = await placed(token);
    expect((await cancel(token, cancelled)).errors).toEqual([]);
    const pending = await placed(token);
    const late = [
      orderEvent('payments.payment.succeeded', { orderId: cancelled, paymentId: crypto.randomUUID(), amount: usd(3000) }),
      orderEvent('inventory.stock.reserved', { orderId: cancelled, lines: [] }),
      orderEvent('shipping.shipment.delivered', { orderId: pending, shipmentId: crypto.randomUUID(), trackingNumber: 'T', at: new Date().toISOString() }),
      orderEvent('payments.payment.succeeded', { orderId: crypto.randomUUID(), paymentId: crypto.randomUUID(), amount: usd(1) }),
    ];
    await producer.send(...late);
    await vi.waitFor(() => expect(late.map((e) => consumed.all.find((o) => o.eventId === e.id)?.result)).toEqual(['processed', 'processed', 'processed', 'processed']), { timeout: 15_000 });
    expect(consumed.all.filter((o) => late.some((e) => e.id === o.eventId)).every((o) => o.attempts === 1)).toBe(true);
    expect(await history(token, cancelled)).toEqual([[1, 'PENDING', null], [2, 'CANCELLED', 'cancelled by the customer']]);
    expect(await history(token, pending)).toEqual([[1, 'PENDING', null]]);
    expect(consumed.all.filter((o) => o.result === 'dead-lettered')).toEqual([]);
  });
});

describe('cancelOrder', () => {
  it('lets the owner cancel a pending order and publishes order.cancelled', async () => {
    const { userId, token } = await customer();
    const id = await placed(token);
    expect(await cancel(token, id)).toEqual({ order: { id, status: 'CANCELLED' }, errors: [] });
    expect(await history(token, id)).toEqual([[1, 'PENDING', null], [2, 'CANCELLED', 'cancelled by the customer']]);
    await vi.waitFor(() => expect(publishedFor(id, 'orders.order.cancelled')).toHaveLength(1), { timeout: 15_000 });
    expect(publishedFor(id, 'orders.order.cancelled')[0]).toMatchObject({ key: id, data: { orderId: id, userId, reason: 'cancelled by the customer' } });

    expect((await cancel(token, id)).errors).toEqual([{ code: 'ORDER_NOT_CANCELLABLE', field: ['input', 'orderId'] }]);
    expect(await outboxOf('orders.order.cancelled', id)).toBe(1);
  });

  it('allows cancelling a reserved or confirmed order, not a shipped one', async () => {
    const { token } = await customer();
    const [reserved, confirmed, shipped] = [await placed(token), await placed(token), await placed(token)];
    await producer.send(
      orderEvent('inventory.stock.reserved', { orderId: reserved, lines: [] }),
      orderEvent('payments.payment.succeeded', { orderId: confirmed, paymentId: crypto.randomUUID(), amount: usd(3000) }),
      orderEvent('payments.payment.succeeded', { orderId: shipped, paymentId: crypto.randomUUID(), amount: usd(3000) }),
    );
    await waitForStatus(token, reserved, 'STOCK_RESERVED');
    await waitForStatus(token, confirmed, 'CONFIRMED');
    await waitForStatus(token, shipped, 'CONFIRMED');
    await producer.send(orderEvent('shipping.shipment.shipped', { orderId: shipped, shipmentId: crypto.randomUUID(), trackingNumber: 'T1', at: new Date().toISOString() }));
    await waitForStatus(token, shipped, 'SHIPPED');

    expect((await cancel(token, reserved)).order?.status).toBe('CANCELLED');
    expect((await cancel(token, confirmed)).order?.status).toBe('CANCELLED');
    expect(await cancel(token, shipped)).toEqual({ order: null, errors: [{ code: 'ORDER_NOT_CANCELLABLE', field: ['input', 'orderId'] }] });
    expect((await orderAs(token, shipped)).status).toBe('SHIPPED');
  });

  it('names the status an order was cancelled from; a confirmed order\'s shipment that had left voids the cancellation', async () => {
    const { token } = await customer();
    const [pending, confirmed] = [await placed(token), await placed(token)];
    await producer.send(orderEvent('payments.payment.succeeded', { orderId: confirmed, paymentId: crypto.randomUUID(), amount: usd(3000) }));
    await waitForStatus(token, confirmed, 'CONFIRMED');
    for (const id of [pending, confirmed]) expect((await cancel(token, id)).order?.status).toBe('CANCELLED');
    await vi.waitFor(() => expect([pending, confirmed].map((id) => publishedFor(id, 'orders.order.cancelled').length)).toEqual([1, 1]), { timeout: 15_000 });
    expect(publishedFor(pending, 'orders.order.cancelled')[0]!.data).toMatchObject({ previousStatus: 'PENDING' });
    expect(publishedFor(confirmed, 'orders.order.cancelled')[0]!.data).toMatchObject({ previousStatus: 'CONFIRMED' });

    // Shipping marked the shipment shipped before it heard of the cancellation: the goods left.
    const shipment = { orderId: confirmed, shipmentId: crypto.randomUUID(), trackingNumber: 'TRK9' };
    await producer.send(orderEvent('shipping.shipment.shipped', { ...shipment, at: new Date().toISOString() }));
    await waitForStatus(token, confirmed, 'SHIPPED');
    expect(await cancel(token, confirmed)).toEqual({ order: null, errors: [{ code: 'ORDER_NOT_CANCELLABLE', field: ['input', 'orderId'] }] });
    await producer.send(orderEvent('shipping.shipment.delivered', { ...shipment, at: new Date().toISOString() }));
    await waitForStatus(token, confirmed, 'DELIVERED');
    expect(await history(token, confirmed)).toEqual([
      [1, 'PENDING', null],
      [2, 'STOCK_RESERVED', null],
      [3, 'CONFIRMED', null],
      [4, 'CANCELLED', 'cancelled by the customer'],
      [5, 'SHIPPED', 'Not cancelled: the order had already shipped. Tracking number TRK9'],
      [6, 'DELIVERED', null],
    ]);
    await vi.waitFor(() => expect(publishedFor(confirmed, 'orders.order.status-changed').map((e) => (e.data as any).status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'CANCELLED', 'SHIPPED', 'DELIVERED']), { timeout: 15_000 });
    expect(await outboxOf('orders.order.cancelled', confirmed)).toBe(1);
  });

  it('answers ORDER_NOT_FOUND alike for unknown, malformed and other customers\' orders; staff may cancel any', async () => {
    const owner = await customer();
    const id = await placed(owner.token);
    const stranger = await customer();
    for (const orderId of [id, crypto.randomUUID(), 'not-an-id']) {
      expect(await cancel(stranger.token, orderId)).toEqual({ order: null, errors: [{ code: 'ORDER_NOT_FOUND', field: ['input', 'orderId'] }] });
    }
    expect((await orderAs(owner.token, id)).status).toBe('PENDING');

    expect((await cancel(await issuer.staff(), id)).order).toEqual({ id, status: 'CANCELLED' });
    expect((await history(owner.token, id)).at(-1)).toEqual([2, 'CANCELLED', 'cancelled by staff']);
    expect(errorCodes(await graphql(url, CANCEL, { input: { orderId: id } }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('reading orders', () => {
  const USER_ORDERS = `query($r: [_Any!]!, $first: Int, $after: String) { _entities(representations: $r) { ... on User { id orders(first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } } }`;
  let owner: { userId: string; token: string };
  let ids: string[];

  beforeAll(async () => {
    owner = await customer();
    ids = [];
    for (let i = 0; i < 3; i++) ids.push(await placed(owner.token));
  });

  it('shows an order to its owner and staff; to anyone else it does not exist', async () => {
    const id = ids[0]!;
    expect((await orderAs(owner.token, id)).id).toBe(id);
    expect((await orderAs(await issuer.staff(), id)).id).toBe(id);
    expect(await orderAs((await customer()).token, id)).toBeNull();
    expect(await orderAs(undefined, id)).toBeNull();
    expect(await orderAs(owner.token, crypto.randomUUID())).toBeNull();
    expect(await orderAs(owner.token, 'garbage')).toBeNull();

    const refs = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id status } } }`;
    const asStranger = await graphql(url, refs, { r: [{ __typename: 'Order', id }] }, (await customer()).token);
    expect(asStranger.errors).toBeUndefined();
    expect(asStranger.data!['_entities']).toEqual([null]);
    const asOwner = await graphql(url, refs, { r: [{ __typename: 'Order', id }] }, owner.token);
    expect(asOwner.data!['_entities']).toEqual([{ id, status: 'PENDING' }]);
  });

  it('lists User.orders newest first in pages, for the user and staff; FORBIDDEN for others', async () => {
    const r = [{ __typename: 'User', id: owner.userId }];
    const first = await graphql(url, USER_ORDERS, { r, first: 2 }, owner.token);
    expect(first.errors).toBeUndefined();
    const page1 = first.data!['_entities'][0].orders;
    expect(page1.totalCount).toBe(3);
    expect(page1.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await graphql(url, USER_ORDERS, { r, first: 2, after: page1.pageInfo.endCursor }, await issuer.staff());
    expect(second.errors).toBeUndefined();
    expect(second.data!['_entities'][0].orders.edges.map((e: any) => e.node.id)).toEqual([ids[0]]);
    expect(second.data!['_entities'][0].orders.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });

    expect(errorCodes(await graphql(url, USER_ORDERS, { r }, (await customer()).token))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(url, USER_ORDERS, { r }))).toEqual(['UNAUTHENTICATED']);
    const bad = await graphql(url, USER_ORDERS, { r, after: 'garbage' }, owner.token);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CURSOR' });
  });

  it('reports ready while its database answers', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
