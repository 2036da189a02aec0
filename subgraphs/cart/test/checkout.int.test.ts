import type { Orm } from '@shopgraph/kit';
import type { Envelope, EventData } from '@shopgraph/events';
import { consumerOutcomes, eventProducer, graphql, type EventProducer, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE_QUANTITY } from '../src/domain/cart.service.ts';
import type { ProductAvailability } from '../src/domain/product-availability.ts';
import { startCart } from './support.ts';

// Checkout from the cart's side, with orders' events through the real broker: an order's lines
// leave the cart when it is placed and come back only if it fails before it was confirmed; the
// cart the customer fills meanwhile is never touched by the order's outcome.

const products: ProductAvailability = { lookup: async () => ({ exists: true, availableQuantity: 1000 }) };

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
const consumed = consumerOutcomes();

beforeAll(async () => {
  service = await startCart({ products, onMessage: consumed.record });
  ({ url, issuer, orm } = service);
  producer = eventProducer();
});
afterAll(async () => {
  await producer?.close();
  await service?.close();
});

const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => orm.em.fork().execute<T[]>(query, params);

async function customer(): Promise<{ userId: string; token: string }> {
  const userId = crypto.randomUUID();
  return { userId, token: await issuer.customer(userId) };
}

async function add(token: string, productId: string, quantity: number): Promise<void> {
  const response = await graphql(url, `mutation($input: AddToCartInput!) { addToCart(input: $input) { errors { code } } }`, { input: { productId, quantity } }, token);
  expect(response.data!['addToCart'].errors).toEqual([]);
}

/** The cart's lines as [productId, quantity], in the order the products were first added. */
async function lines(token: string): Promise<[string, number][]> {
  const response = await graphql(url, `{ cart { lines { product { id } quantity } } }`, {}, token);
  expect(response.errors).toBeUndefined();
  return response.data!['cart'].lines.map((line: { product: { id: string }; quantity: number }) => [line.product.id, line.quantity]);
}

const money = { amount: 500, currency: 'USD' };
const placedData = (orderId: string, userId: string, ordered: [productId: string, quantity: number][]): EventData<'orders.order.placed'> => ({
  orderId,
  userId,
  lines: ordered.map(([productId, quantity]) => ({ productId, quantity, unitPrice: money })),
  total: { amount: 500 * ordered.reduce((sum, [, quantity]) => sum + quantity, 0), currency: 'USD' },
  paymentMethod: 'pm_card_visa',
  shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
});
function placeOrder(userId: string, ordered: [productId: string, quantity: number][]) {
  const orderId = crypto.randomUUID();
  return producer.publish('orders.order.placed', orderId, placedData(orderId, userId, ordered));
}

let version = 1;
const statusChanged = (order: { orderId: string; userId: string }, status: EventData<'orders.order.status-changed'>['status']) =>
  producer.publish('orders.order.status-changed', order.orderId, { orderId: order.orderId, userId: order.userId, version: ++version, status, reason: null, at: new Date().toISOString() });

/** Waits until cart's consumer has handled an event (its effect committed, or it was a duplicate). */
const handled = (event: Envelope) => consumed.handled(event);

interface CheckoutRow {
  user_id: string;
  lines: { productId: string; quantity: number }[];
  taken: boolean;
  confirmed: boolean;
  returned: boolean;
}
const checkoutOf = async (orderId: string) =>
  (
    await sql<CheckoutRow>(
      'select user_id, lines, taken_at is not null as taken, confirmed_at is not null as confirmed, returned_at is not null as returned from checkout where order_id = ?',
      [orderId],
    )
  )[0];

describe('cart in checkout', () => {
  it('takes the ordered quantities out when the order is placed, recording what it took', async () => {
    const { userId, token } = await customer();
    const [a, b, c, gone] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 3);
    await add(token, b, 2);
    await add(token, c, 1);

    // `gone` is no longer in the cart (the customer removed it right after placing the order).
    const placed = await placeOrder(userId, [[a, 2], [b, 2], [gone, 1]]);
    await handled(placed);
    expect(await lines(token)).toEqual([[a, 1], [c, 1]]);
    expect(await checkoutOf(placed.data.orderId)).toEqual({
      user_id: userId,
      lines: [{ productId: a, quantity: 2 }, { productId: b, quantity: 2 }],
      taken: true,
      confirmed: false,
      returned: false,
    });
  });

  it('takes no more than the cart holds, a product ordered on two lines (in any case) summed', async () => {
    const { userId, token } = await customer();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 2);
    await add(token, b, 5);

    const placed = await placeOrder(userId, [[a, 2], [b, 1], [a.toUpperCase(), 1], [b.toUpperCase(), 1]]);
    await handled(placed);
    expect(await lines(token)).toEqual([[b, 3]]);
    expect(await checkoutOf(placed.data.orderId)).toMatchObject({ lines: [{ productId: a, quantity: 2 }, { productId: b, quantity: 2 }], taken: true });
  });

  it('leaves the cart the customer fills after placing an order alone when that order is confirmed, or cancelled after it', async () => {
    const { userId, token } = await customer();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 2);
    await add(token, b, 1);
    const placed = await placeOrder(userId, [[a, 2], [b, 1]]);
    await handled(placed);
    expect(await lines(token)).toEqual([]);

    // The reported bug: the cart emptied by the order, the product added again while it is under way.
    await add(token, a, 1);
    await handled(await statusChanged(placed.data, 'STOCK_RESERVED'));
    await handled(await statusChanged(placed.data, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 1]]);
    expect(await checkoutOf(placed.data.orderId)).toMatchObject({ confirmed: true, returned: false });

    // A paid order cancelled later is refunded; its lines do not come back into the cart.
    await handled(await statusChanged(placed.data, 'CANCELLED'));
    expect(await lines(token)).toEqual([[a, 1]]);
    expect(await checkoutOf(placed.data.orderId)).toMatchObject({ confirmed: true, returned: false });
  });

  it('takes the lines once, however often the placement is delivered', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 5);
    const placed = await placeOrder(userId, [[a, 2]]);
    await producer.send(placed); // the same event again: processed_message
    await handled(await producer.publish('orders.order.placed', placed.data.orderId, placed.data)); // the same fact under another id: the checkout row
    expect(await lines(token)).toEqual([[a, 3]]);
    expect(consumed.resultsOf(placed).sort()).toEqual(['duplicate', 'processed']);
  });

  it.each(['OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED'] as const)('puts the lines back, merged into the current cart, once, when the order ends %s', async (status) => {
    const { userId, token } = await customer();
    const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 2);
    await add(token, b, 1);
    const placed = await placeOrder(userId, [[a, 2], [b, 1]]);
    await handled(placed);
    expect(await lines(token)).toEqual([]);
    await add(token, a, 1);
    await add(token, c, 1);

    const failed = await statusChanged(placed.data, status);
    await producer.send(failed); // the same event again: processed_message
    await statusChanged(placed.data, status); // the same fact under another id: the checkout row is settled
    await handled(await statusChanged(placed.data, 'CONFIRMED')); // cannot follow a final status; if it did, nothing to apply
    expect(consumed.resultsOf(failed).sort()).toEqual(['duplicate', 'processed']);

    // a merged into the line the customer added again; b back as a new line, last.
    expect(await lines(token)).toEqual([[a, 3], [c, 1], [b, 1]]);
    expect(await checkoutOf(placed.data.orderId)).toMatchObject({ taken: true, confirmed: false, returned: true });
  });

  it('caps a line that would exceed the per-line limit when the lines come back', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 5);
    const placed = await placeOrder(userId, [[a, 5]]);
    await handled(placed);
    await add(token, a, MAX_LINE_QUANTITY - 2);

    await handled(await statusChanged(placed.data, 'PAYMENT_FAILED'));
    expect(await lines(token)).toEqual([[a, MAX_LINE_QUANTITY]]);
  });

  it('loses no change to a line that orders take from while the customer adds to it', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 50);
    // Orders of one customer have different keys: the consumer handles them on several partitions at once.
    const placed = Promise.all(Array.from({ length: 10 }, () => placeOrder(userId, [[a, 1]])));
    await Promise.all(Array.from({ length: 20 }, () => add(token, a, 1)));
    for (const event of await placed) await handled(event);
    expect(await lines(token)).toEqual([[a, 60]]);
  });

  it('ignores the outcome of an order it never saw placed, and after a failure takes nothing if the placement comes late', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 1);
    await handled(await statusChanged({ orderId: crypto.randomUUID(), userId }, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 1]]);

    // A placement replayed from the dead-letter topic after its order failed.
    const orderId = crypto.randomUUID();
    await handled(await statusChanged({ orderId, userId }, 'OUT_OF_STOCK'));
    expect(await lines(token)).toEqual([[a, 1]]);
    await handled(await producer.publish('orders.order.placed', orderId, placedData(orderId, userId, [[a, 1]])));
    expect(await lines(token)).toEqual([[a, 1]]);
    expect(await checkoutOf(orderId)).toMatchObject({ lines: [], taken: false, returned: true });
  });

  it('places and confirms an order for a customer without a cart, harmlessly', async () => {
    const { userId } = await customer();
    const placed = await placeOrder(userId, [[crypto.randomUUID(), 1]]);
    await handled(await statusChanged(placed.data, 'CONFIRMED'));
    expect(await checkoutOf(placed.data.orderId)).toMatchObject({ lines: [], taken: true, confirmed: true });
    expect(await sql('select 1 from cart where user_id = ?', [userId])).toEqual([]);
  });

  it('settles an order placed under the previous release (its lines still in the cart) the old way', async () => {
    const { userId, token } = await customer();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 3);
    await add(token, b, 1);
    const [confirmed, failed] = [crypto.randomUUID(), crypto.randomUUID()];
    for (const [orderId, productId] of [[confirmed, a], [failed, b]]) {
      await sql('insert into checkout (order_id, user_id, lines) values (?, ?, ?)', [orderId, userId, JSON.stringify([{ productId, quantity: 1 }])]);
    }

    await handled(await statusChanged({ orderId: confirmed, userId }, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 2], [b, 1]]);
    await handled(await statusChanged({ orderId: failed, userId }, 'PAYMENT_FAILED'));
    expect(await lines(token)).toEqual([[a, 2], [b, 1]]);
  });

  it('has migrations that build exactly the schema its entities describe', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
  });

  it('is ready when its database answers', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
