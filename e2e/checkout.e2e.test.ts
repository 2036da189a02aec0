import { errorCodes, graphql } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, sql, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The checkout saga end to end: the router, every subgraph, real Postgres and a real Kafka.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const FINAL = ['CONFIRMED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED', 'SHIPPED', 'DELIVERED'];

beforeAll(async () => {
  // The whole supergraph shares this one process (and the machine other test files): 200 carts and
  // checkouts at once need more than the 3 s and 5 s defaults.
  graph = await startSupergraph({ CHECKOUT_TIMEOUT_MS: '30000', PRODUCT_LOOKUP_TIMEOUT_MS: '30000' });
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);

async function fill(token: string, lines: [productId: string, quantity: number][]) {
  for (const [productId, quantity] of lines) {
    const added = await call('AddToCart', { input: { productId, quantity } }, token);
    expect(added.data?.['addToCart'].errors).toEqual([]);
  }
}

async function place(token: string, paymentMethod = 'pm_card_visa', idempotencyKey: string = crypto.randomUUID()) {
  const placed = await call('PlaceOrder', { input: { idempotencyKey, shippingAddress: ADDRESS, paymentMethod } }, token);
  expect(placed.errors).toBeUndefined();
  return placed.data!['placeOrder'];
}

async function settled(orderId: string, token: string, statuses = FINAL) {
  return until(`order ${orderId} in ${statuses.join('/')}`, async () => {
    const order = (await call('Order', { id: orderId }, token)).data?.['order'];
    return statuses.includes(order?.status) && order;
  });
}

const available = async (productId: string): Promise<number> => (await call('Product', { id: productId })).data!['product'].availableQuantity;
const charges = (orderId: string) => sql(graph.databaseUrls['payments']!, `select kind, outcome from test_provider_charge where idempotency_key in ($1::text, 'refund:' || $1::text)`, [orderId]);

describe('checkout saga', () => {
  it('confirms a paid order: stock decremented once, payment captured once, shipment created, cart emptied', async () => {
    const kettle = await createProduct(graph, staff, { sku: 'E2E-KETTLE', name: 'Kettle', price: 3_999, stock: 5 });
    const token = await signer.customer();
    await fill(token, [[kettle, 2]]);

    const { order, errors } = await place(token);
    expect(errors).toEqual([]);
    expect(order).toMatchObject({ status: 'PENDING', total: { amount: 7_998, currency: 'USD' } });

    const confirmed = await settled(order.id, token);
    expect(confirmed.status).toBe('CONFIRMED');
    expect(confirmed.statusHistory.map((c: any) => [c.version, c.status])).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    expect(confirmed.payment).toMatchObject({ status: 'SUCCEEDED', amount: { amount: 7_998 } });
    expect(await available(kettle)).toBe(3);
    expect(await sql(graph.databaseUrls['inventory']!, 'select on_hand, reserved from stock_item where product_id = $1', [kettle])).toEqual([{ on_hand: 3, reserved: 0 }]);
    expect(await charges(order.id)).toEqual([{ kind: 'charge', outcome: 'succeeded' }]);

    const shipped = await until('a shipment', async () => (await call('Order', { id: order.id }, token)).data!['order'].shipment);
    expect(shipped).toMatchObject({ status: 'PENDING', trackingNumber: expect.any(String) });
    await until('the cart to be emptied', async () => (await call('Cart', {}, token)).data!['cart'].lines.length === 0);
  });

  it('charges to the minor unit what the cart shows through the router, at the price current when the order is placed', async () => {
    const teapot = await createProduct(graph, staff, { sku: 'E2E-TEAPOT', name: 'Teapot', price: 2_499, stock: 10 });
    const spoon = await createProduct(graph, staff, { sku: 'E2E-SPOON', name: 'Spoon', price: 333, stock: 10 });
    const token = await signer.customer();
    await fill(token, [[teapot, 1], [spoon, 3]]);
    // Repriced after it was carted: the cart shows the new price, and so must the order.
    expect((await call('UpdateProduct', { input: { id: teapot, price: { amount: 2_187, currency: 'USD' } } }, staff)).data!['updateProduct'].errors).toEqual([]);

    const cart = (await call('Cart', {}, token)).data!['cart'];
    expect(cart.subtotal).toEqual({ amount: 2_187 + 3 * 333, currency: 'USD' });
    const { order, errors } = await place(token);
    expect(errors).toEqual([]);
    const linesOf = (lines: any[]) => lines.map((line) => ({ productId: line.product.id, quantity: line.quantity, unitPrice: line.unitPrice, lineTotal: line.lineTotal }));
    expect(linesOf(order.lines)).toEqual(linesOf(cart.lines));
    expect(order.total).toEqual(cart.subtotal);
    expect((await settled(order.id, token)).payment).toMatchObject({ status: 'SUCCEEDED', amount: cart.subtotal });
  });

  it('fails a declined card: stock released, nothing charged, the lines back in the cart', async () => {
    const mug = await createProduct(graph, staff, { sku: 'E2E-MUG', name: 'Mug', price: 1_250, stock: 10 });
    for (const [method, reason] of [['pm_card_chargeDeclined', /declined/i], ['pm_card_chargeDeclinedInsufficientFunds', /insufficient funds/i]] as const) {
      const token = await signer.customer();
      await fill(token, [[mug, 3]]);
      const { order } = await place(token, method);
      const failed = await settled(order.id, token);
      expect(failed.status).toBe('PAYMENT_FAILED');
      expect(failed.statusHistory.at(-1).reason).toMatch(reason);
      expect(failed.payment).toMatchObject({ status: 'FAILED', failureReason: expect.stringMatching(reason) });
      expect(await charges(order.id)).toEqual([{ kind: 'charge', outcome: 'declined' }]);
      await until('the reservation to be released', async () => (await available(mug)) === 10);
      // The lines left the cart when the order was placed; the cart takes them back once it sees the failure.
      await until('the lines back in the cart', async () => {
        const lines = (await call('Cart', {}, token)).data!['cart'].lines;
        return lines.length === 1 && lines[0].product.id === mug && lines[0].quantity === 3;
      });
    }
  });

  it('rejects an order whose stock ran out after it was carted, without attempting payment', async () => {
    const lamp = await createProduct(graph, staff, { sku: 'E2E-LAMP', name: 'Lamp', price: 2_000, stock: 2 });
    const token = await signer.customer();
    await fill(token, [[lamp, 2]]);
    await call('SetStock', { input: { productId: lamp, quantity: 1 } }, staff);

    const { order } = await place(token);
    const rejected = await settled(order.id, token);
    expect(rejected.status).toBe('OUT_OF_STOCK');
    await until('the payment intent to be cancelled', async () => (await call('Order', { id: order.id }, token)).data!['order'].payment?.status === 'CANCELLED');
    expect(await charges(order.id)).toEqual([]);
    expect(await available(lamp)).toBe(1);
  });

  it('never makes a second order for the same idempotency key, also when the calls race', async () => {
    const pen = await createProduct(graph, staff, { sku: 'E2E-PEN', name: 'Pen', price: 150, stock: 100 });
    const token = await signer.customer();
    await fill(token, [[pen, 1]]);
    const key = crypto.randomUUID();
    const first = await place(token, 'pm_card_visa', key);
    const again = await place(token, 'pm_card_visa', key);
    expect(again.order.id).toBe(first.order.id);

    // The first order takes its lines out of the cart: something to check out again.
    await fill(token, [[pen, 1]]);
    const racing = crypto.randomUUID();
    const results = await Promise.all(Array.from({ length: 8 }, () => place(token, 'pm_card_visa', racing)));
    expect(new Set(results.map((r) => r.order.id)).size).toBe(1);

    const orders = (await call('MyOrders', { first: 50 }, token)).data!['me'];
    expect(orders).toBeNull(); // a minted customer has no accounts row, so `me` is null…
    const placed = await sql(graph.databaseUrls['orders']!, 'select count(*)::int as n from customer_order where id = any($1)', [[first.order.id, results[0]!.order.id]]);
    expect(placed).toEqual([{ n: 2 }]);
  });

  it('confirms exactly 50 of 200 concurrent orders competing for the last 50 units', async () => {
    const last = await createProduct(graph, staff, { sku: 'E2E-LAST', name: 'Last units', price: 999, stock: 50 });
    const customers = await Promise.all(Array.from({ length: 200 }, () => signer.customer()));
    // Carts filled 25 at a time (what races is placing the orders, below, all 200 at once).
    for (let i = 0; i < customers.length; i += 25) await Promise.all(customers.slice(i, i + 25).map((token) => fill(token, [[last, 1]])));

    const placed = await Promise.all(customers.map((token) => place(token)));
    expect(placed.flatMap((p) => p.errors)).toEqual([]);
    // One watcher for all 200 (polling each through the router would be the heaviest load here).
    const ids = placed.map((p) => p.order.id);
    const byStatus = await until('all 200 sagas to finish', async () => {
      const rows = await sql<{ status: string; n: number }>(graph.databaseUrls['orders']!, 'select status, count(*)::int as n from customer_order where id = any($1) group by status', [ids]);
      const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      return (counts['CONFIRMED'] ?? 0) + (counts['OUT_OF_STOCK'] ?? 0) === ids.length && counts;
    }, 120_000);
    expect(byStatus).toEqual({ CONFIRMED: 50, OUT_OF_STOCK: 150 });
    const sample = await settled(ids[0]!, customers[0]!);
    expect(['CONFIRMED', 'OUT_OF_STOCK']).toContain(sample.status);
    expect(await sql(graph.databaseUrls['inventory']!, 'select on_hand, reserved from stock_item where product_id = $1', [last])).toEqual([{ on_hand: 0, reserved: 0 }]);
    const captured = await sql(graph.databaseUrls['payments']!, `select count(*)::int as n from test_provider_charge where kind = 'charge' and outcome = 'succeeded' and idempotency_key = any($1)`, [placed.map((p) => p.order.id)]);
    expect(captured).toEqual([{ n: 50 }]);
  }, 180_000);

  it('cancels a confirmed order with compensation: refund, restock, shipment cancelled', async () => {
    const chair = await createProduct(graph, staff, { sku: 'E2E-CHAIR', name: 'Chair', price: 15_000, stock: 3 });
    const token = await signer.customer();
    await fill(token, [[chair, 1]]);
    const { order } = await place(token);
    await settled(order.id, token);
    await until('a shipment', async () => (await call('Order', { id: order.id }, token)).data!['order'].shipment);

    const cancelled = await call('CancelOrder', { input: { orderId: order.id } }, token);
    expect(cancelled.data!['cancelOrder']).toMatchObject({ errors: [], order: { status: 'CANCELLED' } });
    const refunded = await until('the refund', async () => {
      const o = (await call('Order', { id: order.id }, token)).data!['order'];
      return o.payment.status === 'REFUNDED' && o.shipment.status === 'CANCELLED' && o;
    });
    expect(refunded.statusHistory.at(-1)).toMatchObject({ status: 'CANCELLED', version: 4 });
    await until('the restock', async () => (await available(chair)) === 3);
    expect(await charges(order.id)).toEqual(expect.arrayContaining([{ kind: 'charge', outcome: 'succeeded' }, { kind: 'refund', outcome: 'succeeded' }]));
  });

  it('follows the shipment to DELIVERED; a shipped order can no longer be cancelled', async () => {
    const tent = await createProduct(graph, staff, { sku: 'E2E-TENT', name: 'Tent', price: 25_000, stock: 2 });
    const token = await signer.customer();
    await fill(token, [[tent, 1]]);
    const { order } = await place(token);
    await settled(order.id, token);
    await until('a shipment', async () => (await call('Order', { id: order.id }, token)).data!['order'].shipment);

    expect(errorCodes(await call('MarkShipped', { input: { orderId: order.id } }, token))).toContain('FORBIDDEN');
    expect((await call('MarkShipped', { input: { orderId: order.id } }, staff)).data!['markShipped'].errors).toEqual([]);
    await settled(order.id, token, ['SHIPPED']);
    expect((await call('CancelOrder', { input: { orderId: order.id } }, token)).data!['cancelOrder'].errors[0].code).toBe('ORDER_NOT_CANCELLABLE');
    expect((await call('MarkDelivered', { input: { orderId: order.id } }, staff)).data!['markDelivered'].errors).toEqual([]);
    const delivered = await settled(order.id, token, ['DELIVERED']);
    expect(delivered.statusHistory.map((c: any) => c.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'SHIPPED', 'DELIVERED']);
    expect(delivered.shipment.status).toBe('DELIVERED');
  });

  it('answers bad checkout input with typed errors', async () => {
    const token = await signer.customer();
    expect((await place(token)).errors[0].code).toBe('EMPTY_CART');

    const sock = await createProduct(graph, staff, { sku: 'E2E-SOCK', name: 'Sock', price: 500, stock: 10 });
    await fill(token, [[sock, 1]]);
    expect((await place(token, 'pm_card_bitcoin')).errors[0].code).toBe('UNKNOWN_PAYMENT_METHOD');
    const badAddress = await call('PlaceOrder', { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: { ...ADDRESS, country: 'Narnia' }, paymentMethod: 'pm_card_visa' } }, token);
    expect(badAddress.data!['placeOrder'].errors[0]).toMatchObject({ code: 'INVALID_ADDRESS', field: expect.arrayContaining(['country']) });

    const { order } = await place(token);
    const stranger = await signer.customer();
    expect((await call('CancelOrder', { input: { orderId: order.id } }, stranger)).data!['cancelOrder'].errors[0].code).toBe('ORDER_NOT_FOUND');
    expect((await call('Order', { id: order.id }, stranger)).data!['order']).toBeNull();
    expect(errorCodes(await call('PlaceOrder', { input: { idempotencyKey: 'k', shippingAddress: ADDRESS, paymentMethod: 'pm_card_visa' } }))).toContain('UNAUTHENTICATED');
  });
});
