import { replayDeadLetters, type Orm } from '@shopgraph/kit';
import type { Envelope, EventData } from '@shopgraph/events';
import {
  consumerOutcomes, createTestKafka, eventProducer, observe,
  type EventObserver, type EventProducer, type Received, type ServiceUnderTest,
} from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReservationService } from '../src/domain/reservation.service.ts';
import { startInventory } from './support.ts';

// The checkout saga's side of inventory, end to end on real Postgres and Kafka: other services'
// events go in through the broker, inventory's own come out of it.

let service: ServiceUnderTest;
let baseUrl: string;
let db: Orm;
let producer: EventProducer;
let observer: EventObserver;
const consumed = consumerOutcomes();

beforeAll(async () => {
  service = await startInventory({ onMessage: consumed.record }, { poolMax: 12 });
  ({ base: baseUrl, orm: db } = service);
  producer = eventProducer();
  observer = await observe('inventory.stock.v1');
});
afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => db.em.fork().execute<T[]>(query, params);

async function stocked(onHand: number): Promise<string> {
  const productId = crypto.randomUUID();
  await sql('insert into stock_item (product_id, on_hand) values (?, ?)', [productId, onHand]);
  return productId;
}

async function stock(productId: string): Promise<{ on_hand: number; reserved: number } | undefined> {
  return (await sql<{ on_hand: number; reserved: number }>('select on_hand, reserved from stock_item where product_id = ?', [productId]))[0];
}

const reservations = (orderId: string) =>
  sql<{ product_id: string; quantity: number; status: string }>('select product_id, quantity, status from reservation where order_id = ? order by product_id', [orderId]);

const money = { amount: 1000, currency: 'USD' };
function placed(orderId: string, lines: [productId: string, quantity: number][]): EventData<'orders.order.placed'> {
  return {
    orderId,
    userId: crypto.randomUUID(),
    lines: lines.map(([productId, quantity]) => ({ productId, quantity, unitPrice: money })),
    total: { amount: 1000 * lines.reduce((sum, [, quantity]) => sum + quantity, 0), currency: 'USD' },
    paymentMethod: 'pm_card_visa',
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
  };
}

const placeOrder = (orderId: string, lines: [string, number][]) => producer.publish('orders.order.placed', orderId, placed(orderId, lines));
const paid = (orderId: string) => producer.publish('payments.payment.succeeded', orderId, { orderId, paymentId: crypto.randomUUID(), amount: money });

/** Waits until inventory's consumer has handled an event (its effect committed, or it was a duplicate). */
const handled = (event: Envelope) => consumed.handled(event);

/** Inventory's events about an order, as published to Kafka. */
const published = (orderId: string, type: string, count = 1) => observer.waitFor((e: Received) => e.envelope.subject === orderId && e.envelope.type === type, count);
const publishedSoFar = (orderId: string) => observer.received.filter((e) => e.envelope.subject === orderId).map((e) => e.envelope.type);
const outboxed = async (orderId: string) => (await sql<{ type: string }>('select type from outbox_message where key = ? order by seq', [orderId])).map((row) => row.type);

/** Makes inserts of `orderId`'s reservations fail (a fault injected into the database) until the returned repair is called. */
async function failReservationsOf(orderId: string): Promise<() => Promise<void>> {
  const name = `injected_fault_${crypto.randomUUID().replaceAll('-', '')}`;
  await sql(`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'injected fault'; end $$`);
  await sql(`create trigger ${name} before insert on reservation for each row when (new.order_id = '${orderId}') execute function ${name}()`);
  return async () => {
    await sql(`drop trigger ${name} on reservation`);
    await sql(`drop function ${name}()`);
  };
}

describe('inventory in the checkout saga', () => {
  it('reserves all lines of an order and publishes inventory.stock.reserved with them', async () => {
    const [a, b] = [await stocked(5), await stocked(2)];
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 5], [b, 1]]);

    const [event] = await published(orderId, 'inventory.stock.reserved');
    expect(event!.key).toBe(orderId);
    expect(event!.envelope).toMatchObject({ source: 'inventory', subject: orderId, dataVersion: 1 });
    expect(event!.envelope.data).toEqual({ orderId, lines: expect.arrayContaining([{ productId: a, quantity: 5 }, { productId: b, quantity: 1 }]) });
    expect(await stock(a)).toEqual({ on_hand: 5, reserved: 5 });
    expect(await stock(b)).toEqual({ on_hand: 2, reserved: 1 });
    expect(await reservations(orderId)).toEqual(
      [{ product_id: a, quantity: 5, status: 'RESERVED' }, { product_id: b, quantity: 1, status: 'RESERVED' }].sort((x, y) => x.product_id.localeCompare(y.product_id)),
    );
  });

  it('rejects the whole order when one line is short: nothing reserved, shortages published', async () => {
    const [a, b] = [await stocked(10), await stocked(1)];
    const never = crypto.randomUUID(); // a product inventory has never stocked: 0 available
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 2], [b, 3], [never, 1]]);

    const [event] = await published(orderId, 'inventory.stock.rejected');
    expect(event!.envelope.data).toEqual({
      orderId,
      reason: expect.any(String),
      shortages: expect.arrayContaining([{ productId: b, requested: 3, available: 1 }, { productId: never, requested: 1, available: 0 }]),
    });
    expect((event!.envelope.data as EventData<'inventory.stock.rejected'>).shortages).toHaveLength(2);
    // a fitted, but the order is all or nothing: its units were given back with the rest.
    expect(await stock(a)).toEqual({ on_hand: 10, reserved: 0 });
    expect(await stock(b)).toEqual({ on_hand: 1, reserved: 0 });
    expect(await reservations(orderId)).toEqual([]);
    expect(publishedSoFar(orderId)).toEqual(['inventory.stock.rejected']);
  });

  it('takes paid units out of stock exactly once, however often the payment arrives', async () => {
    const a = await stocked(4);
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 3]]);
    await published(orderId, 'inventory.stock.reserved');

    const payment = await paid(orderId);
    await producer.send(payment); // the same event again (at-least-once delivery)
    const again = await paid(orderId); // and the same fact under another event id
    await handled(again); // one key, one partition: the earlier deliveries were handled before it

    expect(await stock(a)).toEqual({ on_hand: 1, reserved: 0 });
    expect(await reservations(orderId)).toEqual([{ product_id: a, quantity: 3, status: 'COMMITTED' }]);
    expect(await outboxed(orderId)).toEqual(['inventory.stock.reserved']);
  });

  it('releases the reservation when payment fails, and publishes inventory.stock.released once', async () => {
    const a = await stocked(3);
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 2]]);
    await published(orderId, 'inventory.stock.reserved');
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 2 });

    const failure = { orderId, paymentId: crypto.randomUUID(), amount: money, code: 'card_declined', reason: 'Your card was declined.' };
    const failed = await producer.publish('payments.payment.failed', orderId, failure);
    await producer.send(failed);
    await handled(await producer.publish('payments.payment.failed', orderId, failure));

    const [event] = await published(orderId, 'inventory.stock.released');
    expect(event!.envelope.data).toEqual({ orderId, reason: 'payment failed' });
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });
    expect(await reservations(orderId)).toEqual([{ product_id: a, quantity: 2, status: 'RELEASED' }]);
    expect(await outboxed(orderId)).toEqual(['inventory.stock.reserved', 'inventory.stock.released']);

    // A late payment success after the release takes nothing.
    await handled(await paid(orderId));
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });
  });

  it('releases the reservation once when staff reject the payment in fraud review, like a failed payment', async () => {
    const a = await stocked(3);
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 2]]);
    await published(orderId, 'inventory.stock.reserved');
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 2 });

    const rejection = { orderId, paymentId: crypto.randomUUID(), amount: money, reason: 'Card reported stolen' };
    const rejected = await producer.publish('payments.payment.rejected', orderId, rejection);
    await producer.send(rejected); // the same event again
    await handled(await producer.publish('payments.payment.rejected', orderId, rejection)); // and the same fact under another id
    expect(consumed.resultsOf(rejected)).toEqual(['processed', 'duplicate']);

    const [event] = await published(orderId, 'inventory.stock.released');
    expect(event!.envelope.data).toEqual({ orderId, reason: 'payment rejected' });
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });
    expect(await reservations(orderId)).toEqual([{ product_id: a, quantity: 2, status: 'RELEASED' }]);
    expect(await outboxed(orderId)).toEqual(['inventory.stock.reserved', 'inventory.stock.released']);
  });

  it('puts paid units back on the shelf when the order is cancelled after payment', async () => {
    const a = await stocked(5);
    const orderId = crypto.randomUUID();
    await placeOrder(orderId, [[a, 2]]);
    await published(orderId, 'inventory.stock.reserved');
    await handled(await paid(orderId));
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });

    const cancelled = await producer.publish('orders.order.cancelled', orderId, { orderId, userId: crypto.randomUUID(), reason: 'customer changed their mind' });
    await producer.send(cancelled);
    const [event] = await published(orderId, 'inventory.stock.released');
    expect(event!.envelope.data).toEqual({ orderId, reason: 'customer changed their mind' });
    await handled(cancelled);
    expect(await stock(a)).toEqual({ on_hand: 5, reserved: 0 });
    expect(await reservations(orderId)).toEqual([{ product_id: a, quantity: 2, status: 'RELEASED' }]);
  });

  it('releases reserved units on cancellation before payment, and changes nothing for an order that holds none', async () => {
    const a = await stocked(2);
    const reservedOrder = crypto.randomUUID();
    await placeOrder(reservedOrder, [[a, 2]]);
    await published(reservedOrder, 'inventory.stock.reserved');
    await producer.publish('orders.order.cancelled', reservedOrder, { orderId: reservedOrder, userId: crypto.randomUUID(), reason: 'saga timed out' });
    expect((await published(reservedOrder, 'inventory.stock.released'))[0]!.envelope.data).toEqual({ orderId: reservedOrder, reason: 'saga timed out' });
    expect(await stock(a)).toEqual({ on_hand: 2, reserved: 0 });

    // Out of stock, then cancelled: nothing was held, nothing is released.
    const rejectedOrder = crypto.randomUUID();
    await placeOrder(rejectedOrder, [[a, 3]]);
    await published(rejectedOrder, 'inventory.stock.rejected');
    await handled(await producer.publish('orders.order.cancelled', rejectedOrder, { orderId: rejectedOrder, userId: crypto.randomUUID(), reason: 'customer' }));
    expect(await outboxed(rejectedOrder)).toEqual(['inventory.stock.rejected']);
    expect(await stock(a)).toEqual({ on_hand: 2, reserved: 0 });
  });

  it('gives a confirmed order\'s stock back only once shipping stopped its shipment', async () => {
    const a = await stocked(5);
    const [stopped, gone] = [crypto.randomUUID(), crypto.randomUUID()];
    for (const orderId of [stopped, gone]) {
      await placeOrder(orderId, [[a, 2]]);
      await published(orderId, 'inventory.stock.reserved');
      await handled(await paid(orderId));
    }
    expect(await stock(a)).toEqual({ on_hand: 1, reserved: 0 });

    const cancellation = (orderId: string) => ({ orderId, userId: crypto.randomUUID(), reason: 'customer changed their mind', previousStatus: 'CONFIRMED' as const });
    for (const orderId of [stopped, gone]) await handled(await producer.publish('orders.order.cancelled', orderId, cancellation(orderId)));
    expect(await stock(a)).toEqual({ on_hand: 1, reserved: 0 });
    expect(await reservations(stopped)).toEqual([{ product_id: a, quantity: 2, status: 'COMMITTED' }]);

    // Shipping's verdict for one of them: its shipment was stopped. The other had left: no verdict, no restock.
    const shipmentId = crypto.randomUUID();
    const verdict = await producer.publish('shipping.shipment.cancelled', shipmentId, { orderId: stopped, shipmentId, trackingNumber: 'SG1234567890', reason: 'customer changed their mind', at: new Date().toISOString() });
    await producer.send(verdict);
    expect((await published(stopped, 'inventory.stock.released'))[0]!.envelope.data).toEqual({ orderId: stopped, reason: 'customer changed their mind' });
    await consumed.handled(verdict, 2);
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });
    expect(await reservations(stopped)).toEqual([{ product_id: a, quantity: 2, status: 'RELEASED' }]);
    expect(await reservations(gone)).toEqual([{ product_id: a, quantity: 2, status: 'COMMITTED' }]);
    expect(await outboxed(gone)).toEqual(['inventory.stock.reserved']);
  });

  it('reserves nothing when a dead-lettered order.placed is replayed after the saga cancelled the order', async () => {
    const a = await stocked(3);
    const orderId = crypto.randomUUID();
    const repair = await failReservationsOf(orderId);
    const placement = await placeOrder(orderId, [[a, 2]]);
    expect((await handled(placement)).map((o) => o.result)).toEqual(['dead-lettered']);
    await repair();

    // The saga times the order out; inventory held nothing for it, so it releases nothing, but remembers.
    await handled(await producer.publish('orders.order.cancelled', orderId, { orderId, userId: crypto.randomUUID(), reason: 'saga timed out', previousStatus: 'PENDING' }));
    expect(await sql('select reason from cancelled_order where order_id = ?', [orderId])).toEqual([{ reason: 'saga timed out' }]);

    // Replayed with the same event id, which was never recorded as processed: handled, not deduplicated.
    const kafka = createTestKafka('dlq-replay');
    try {
      expect(await replayDeadLetters(kafka, 'inventory.saga')).toBe(1);
    } finally {
      await kafka.close();
    }
    expect((await consumed.handled(placement, 2)).map((o) => o.result)).toEqual(['dead-lettered', 'processed']);
    expect(await stock(a)).toEqual({ on_hand: 3, reserved: 0 });
    expect(await reservations(orderId)).toEqual([]);
    expect(await outboxed(orderId)).toEqual([]);
  });

  it('confirms exactly 50 of 200 one-unit orders for the last 50 units, published through Kafka', async () => {
    const a = await stocked(50);
    const orders = Array.from({ length: 200 }, () => crypto.randomUUID());
    await Promise.all(orders.map((orderId) => placeOrder(orderId, [[a, 1]])));

    const ours = new Set<string>(orders);
    const outcomes = await observer.waitFor((e) => ours.has(e.envelope.subject), 200, 30_000);
    const reserved = outcomes.filter((e) => e.envelope.type === 'inventory.stock.reserved');
    const rejected = outcomes.filter((e) => e.envelope.type === 'inventory.stock.rejected');
    expect(reserved).toHaveLength(50);
    expect(rejected).toHaveLength(150);
    expect(new Set(outcomes.map((e) => e.envelope.subject)).size).toBe(200);
    expect(rejected.every((e) => (e.envelope.data as EventData<'inventory.stock.rejected'>).shortages[0]?.available === 0)).toBe(true);
    expect(await stock(a)).toEqual({ on_hand: 50, reserved: 50 });
    expect(await sql('select 1 from reservation where product_id = ?', [a])).toHaveLength(50);
  });

  it('never oversells under 200 truly concurrent reservations of the last 50 units', async () => {
    const a = await stocked(50);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, () => db.em.fork().transactional((em) => new ReservationService(em).reserve({ orderId: crypto.randomUUID(), lines: [{ productId: a, quantity: 1 }] }))),
    );
    expect(outcomes.filter((o) => o.outcome === 'reserved')).toHaveLength(50);
    expect(outcomes.filter((o) => o.outcome === 'rejected')).toHaveLength(150);
    expect(await stock(a)).toEqual({ on_hand: 50, reserved: 50 });
    // The last line of defence is in place: reserved can never exceed on hand.
    await expect(sql('update stock_item set reserved = on_hand + 1 where product_id = ?', [a])).rejects.toMatchObject({ constraint: 'stock_item_reserved_within_on_hand_check' });
  });

  it('has migrations that build exactly the schema its entities describe', async () => {
    expect((await db.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
  });

  it('is ready when its database answers', async () => {
    const response = await fetch(`${baseUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});

describe('stock levels for read models (inventory.stock.level-changed)', () => {
  const levels = (productId: string) =>
    observer.received.filter((e) => e.envelope.type === 'inventory.stock.level-changed' && e.key === productId).map((e) => e.envelope.data);
  const levelsOutboxed = async (productId: string) =>
    (await sql<{ envelope: { data: unknown } }>(`select envelope from outbox_message where key = ? and type = 'inventory.stock.level-changed' order by seq`, [productId])).map((row) => row.envelope.data);
  const levelsPublished = (productId: string, count: number) => observer.waitFor((e) => e.envelope.type === 'inventory.stock.level-changed' && e.key === productId, count);

  async function staffSets(productId: string, field: 'quantity' | 'delta', value: number): Promise<void> {
    const mutation = field === 'quantity' ? 'setStock(input: { productId: $id, quantity: $value })' : 'adjustStock(input: { productId: $id, delta: $value })';
    const response = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await service.issuer.staff()}` },
      body: JSON.stringify({ query: `mutation($id: ID!, $value: Int!) { ${mutation} { errors { code } } }`, variables: { id: productId, value } }),
    });
    expect(((await response.json()) as { data: Record<string, { errors: unknown[] }> }).data).toEqual({ [field === 'quantity' ? 'setStock' : 'adjustStock']: { errors: [] } });
  }

  it('publishes a product\'s level on every staff count, and from the saga only when it goes out of or back in stock', async () => {
    const a = crypto.randomUUID();
    const level = (availableQuantity: number) => ({ productId: a, availableQuantity, inStock: availableQuantity > 0 });
    await staffSets(a, 'quantity', 3);
    await levelsPublished(a, 1);
    expect(levels(a)).toEqual([level(3)]);

    // 2 of 3 reserved: still in stock, nothing to say.
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
    await placeOrder(first, [[a, 2]]);
    await published(first, 'inventory.stock.reserved');
    expect(await levelsOutboxed(a)).toEqual([level(3)]);
    // The last one: out of stock.
    await placeOrder(second, [[a, 1]]);
    await levelsPublished(a, 2);
    // Paid: the units leave the shelf, availability does not change.
    await handled(await paid(second));
    // The first order's payment fails: its units are available again, back in stock.
    await handled(await producer.publish('payments.payment.failed', first, { orderId: first, paymentId: crypto.randomUUID(), amount: money, code: 'card_declined', reason: 'declined' }));
    await levelsPublished(a, 3);
    await staffSets(a, 'delta', -2);
    await levelsPublished(a, 4);
    expect(levels(a)).toEqual([level(3), level(0), level(2), level(0)]);
    expect(await levelsOutboxed(a)).toEqual(levels(a));
    expect(observer.received.find((e) => e.key === a)?.topic).toBe('inventory.stock.v1');
  });
});
