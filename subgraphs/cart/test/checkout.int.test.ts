import type { Orm } from '@shopgraph/kit';
import type { Envelope, EventData } from '@shopgraph/events';
import { consumerOutcomes, eventProducer, graphql, type EventProducer, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductAvailability } from '../src/domain/product-availability.ts';
import { startCart } from './support.ts';

// "The cart is emptied only on success": orders' events arrive through the real broker; the cart
// loses exactly the ordered quantities once the order is confirmed, and nothing if it fails.

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
function placeOrder(userId: string, ordered: [productId: string, quantity: number][]) {
  const orderId = crypto.randomUUID();
  const data: EventData<'orders.order.placed'> = {
    orderId,
    userId,
    lines: ordered.map(([productId, quantity]) => ({ productId, quantity, unitPrice: money })),
    total: { amount: 500 * ordered.reduce((sum, [, quantity]) => sum + quantity, 0), currency: 'USD' },
    paymentMethod: 'pm_card_visa',
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
  };
  return producer.publish('orders.order.placed', orderId, data);
}

let version = 1;
const statusChanged = (order: { orderId: string; userId: string }, status: EventData<'orders.order.status-changed'>['status']) =>
  producer.publish('orders.order.status-changed', order.orderId, { orderId: order.orderId, userId: order.userId, version: ++version, status, reason: null, at: new Date().toISOString() });

/** Waits until cart's consumer has handled an event (its effect committed, or it was a duplicate). */
const handled = (event: Envelope) => consumed.handled(event);
const checkoutOf = async (orderId: string) => (await sql<{ user_id: string; lines: unknown }>('select user_id, lines from checkout where order_id = ?', [orderId]))[0];

describe('cart in checkout', () => {
  it('removes only the ordered quantities once the order is confirmed, keeping lines added after checkout', async () => {
    const { userId, token } = await customer();
    const [a, b, c, d] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 3);
    await add(token, b, 2);
    await add(token, c, 1);

    const placed = await placeOrder(userId, [[a, 2], [b, 2]]);
    await handled(placed);
    expect(await checkoutOf(placed.data.orderId)).toEqual({ user_id: userId, lines: expect.arrayContaining([{ productId: a, quantity: 2 }, { productId: b, quantity: 2 }]) });
    // Placing the order leaves the cart as it is.
    expect(await lines(token)).toEqual([[a, 3], [b, 2], [c, 1]]);

    // The customer keeps shopping while the order is under way.
    await add(token, d, 1);
    await add(token, a, 1);
    await handled(await statusChanged(placed.data, 'STOCK_RESERVED'));
    expect(await lines(token)).toEqual([[a, 4], [b, 2], [c, 1], [d, 1]]);

    await handled(await statusChanged(placed.data, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 2], [c, 1], [d, 1]]);
    expect(await checkoutOf(placed.data.orderId)).toBeUndefined();
  });

  it('applies a confirmation once, however often it is delivered', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 5);
    const placed = await placeOrder(userId, [[a, 2]]);
    await producer.send(placed); // the same event twice

    const confirmed = await statusChanged(placed.data, 'CONFIRMED');
    await producer.send(confirmed); // the same event again: processed_message
    await statusChanged(placed.data, 'CONFIRMED'); // the same fact under another id: the checkout is gone
    await handled(await statusChanged(placed.data, 'SHIPPED')); // one key, one partition: all of the above came first

    expect(await lines(token)).toEqual([[a, 3]]);
    expect(await checkoutOf(placed.data.orderId)).toBeUndefined();
  });

  it.each(['OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED'] as const)('leaves the cart untouched when the order ends %s', async (status) => {
    const { userId, token } = await customer();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(token, a, 2);
    await add(token, b, 1);
    const placed = await placeOrder(userId, [[a, 2], [b, 1]]);
    await handled(placed);
    expect(await checkoutOf(placed.data.orderId)).toBeDefined();

    await handled(await statusChanged(placed.data, status));
    expect(await checkoutOf(placed.data.orderId)).toBeUndefined();
    // A late confirmation (it cannot follow a final status, but if it did) finds nothing to apply.
    await handled(await statusChanged(placed.data, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 2], [b, 1]]);
  });

  it('ignores the status of an order it never saw placed, without failing the event', async () => {
    const { userId, token } = await customer();
    const a = crypto.randomUUID();
    await add(token, a, 1);
    const stranger = { orderId: crypto.randomUUID(), userId };
    await handled(await statusChanged(stranger, 'CONFIRMED'));
    expect(await lines(token)).toEqual([[a, 1]]);
  });

  it('confirms an order for a customer whose cart is already gone, harmlessly', async () => {
    const { userId } = await customer();
    const placed = await placeOrder(userId, [[crypto.randomUUID(), 1]]);
    await handled(await statusChanged(placed.data, 'CONFIRMED'));
    expect(await checkoutOf(placed.data.orderId)).toBeUndefined();
    expect(await sql('select 1 from cart where user_id = ?', [userId])).toEqual([]);
  });

  it('has migrations that build exactly the schema its entities describe', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
  });

  it('is ready when its database and Kafka answer', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
