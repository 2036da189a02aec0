import type { Orm } from '@shopgraph/kit';
import { connectWs, eventProducer, graphql, scrapeMetrics, type EventProducer, type ServiceUnderTest, type TestIssuer, type WsTestClient } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StatusChangeBus, type StatusChange, type StatusFeedHooks } from '../src/domain/live/live-status.ts';
import { OrderStatus } from '../src/domain/order-status.ts';
import { transition } from '../src/domain/status-changes.ts';
import { address, orderEvent, PLACE, standInCheckout, startOrders } from './support.ts';

// Subscription.orderStatusChanged on the orders subgraph itself (graphql-ws on its own port), fed
// by its status-change events on the real broker; two replicas on one database.
const checkout = standInCheckout();
/** The first replica's bus, to watch what reaches it and to push changes by hand. */
const bus = new StatusChangeBus();
/** Hooks of the first replica, set by the tests that need them. */
const hooks: StatusFeedHooks = {};

let service: ServiceUnderTest;
let urls: string[];
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
const clients: WsTestClient[] = [];

beforeAll(async () => {
  const liveHooks: StatusFeedHooks = {
    afterLiveSubscribed: (orderId) => hooks.afterLiveSubscribed?.(orderId),
    afterHistoryRead: (orderId, history) => hooks.afterHistoryRead?.(orderId, history),
  };
  service = await startOrders(
    (replica) => (replica === 0 ? { checkout: checkout.source, statusBus: bus, liveHooks } : { checkout: checkout.source }),
    { replicas: 2, env: { SAGA_TIMEOUT_MS: '600000' } },
  );
  ({ url, issuer, orm } = service);
  urls = service.replicas.map((replica) => replica.url);
  producer = eventProducer();
});
afterEach(async () => {
  delete hooks.afterLiveSubscribed;
  delete hooks.afterHistoryRead;
  await Promise.all(clients.splice(0).map((client) => client.close()));
});
afterAll(async () => {
  await producer?.close();
  await service?.close();
});

const usd = (amount: number) => ({ amount, currency: 'USD' });
const SUBSCRIBE = 'subscription($id: ID!, $after: Int) { orderStatusChanged(orderId: $id, after: $after) { version status reason order { id status } } }';

/** A customer with a one-line cart and a placed (PENDING) order. */
async function customerWithOrder(): Promise<{ token: string; userId: string; orderId: string }> {
  const userId = crypto.randomUUID();
  const token = await issuer.customer(userId);
  checkout.carts.set(token, [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(1000) }]);
  const response = await graphql(url, PLACE, { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: address, paymentMethod: 'pm_card_visa' } }, token);
  return { token, userId, orderId: response.data!['placeOrder'].order.id };
}

/** The saga step that moves an order to `status`, as inventory, payments or shipping publish it. */
function step(orderId: string, status: 'STOCK_RESERVED' | 'CONFIRMED' | 'SHIPPED' | 'DELIVERED' | 'PAYMENT_FAILED') {
  const shipment = { orderId, shipmentId: crypto.randomUUID(), trackingNumber: 'TRK1', at: new Date().toISOString() };
  switch (status) {
    case 'STOCK_RESERVED': return producer.send(orderEvent('inventory.stock.reserved', { orderId, lines: [] }));
    case 'CONFIRMED': return producer.send(orderEvent('payments.payment.succeeded', { orderId, paymentId: crypto.randomUUID(), amount: usd(1000) }));
    case 'PAYMENT_FAILED': return producer.send(orderEvent('payments.payment.failed', { orderId, paymentId: crypto.randomUUID(), amount: usd(1000), code: 'card_declined', reason: 'declined' }));
    case 'SHIPPED': return producer.send(orderEvent('shipping.shipment.shipped', shipment));
    case 'DELIVERED': return producer.send(orderEvent('shipping.shipment.delivered', shipment));
  }
}

/** Resolves once this replica's bus has seen the order's change `version` (published, consumed, broadcast). */
function reachesBus(orderId: string, version: number): Promise<StatusChange> {
  return new Promise((resolve) => {
    const unsubscribe = bus.subscribe(orderId, (change) => {
      if (change.version !== version) return;
      unsubscribe();
      resolve(change);
    });
  });
}

/** Moves the order one step and waits until the change is live on the first replica. */
async function move(orderId: string, version: number, status: Parameters<typeof step>[1]): Promise<void> {
  const reached = reachesBus(orderId, version);
  await step(orderId, status);
  await reached;
}

interface Watch {
  client: WsTestClient;
  /** The next event as [version, status]; fails on anything else. */
  next(): Promise<[number, string]>;
  /** The next message of the subscription, whatever it is. */
  message(): ReturnType<WsTestClient['takeFor']>;
}

async function watch(token: string, orderId: string, after?: number, on = url): Promise<Watch> {
  const client = await connectWs(on, { authorization: `Bearer ${token}` });
  clients.push(client);
  expect(client.ack).toBeDefined();
  client.subscribe('s', SUBSCRIBE, after === undefined ? { id: orderId } : { id: orderId, after });
  const message = () => client.takeFor('s', 15_000);
  return {
    client,
    message,
    async next() {
      const m = await message();
      expect(m.type, JSON.stringify(m)).toBe('next');
      expect(m.payload.errors, JSON.stringify(m)).toBeUndefined();
      const change = m.payload.data.orderStatusChanged;
      return [change.version, change.status];
    },
  };
}

/** Nothing more arrives for the subscription within `ms`. */
async function quiet(w: Watch, ms = 500): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  expect(w.client.pending().filter((m) => m.id === 's')).toEqual([]);
}

describe('Subscription.orderStatusChanged: who may subscribe', () => {
  it('refuses a stranger and an unknown order with FORBIDDEN at subscribe time; the stranger never gets an event', async () => {
    const { orderId } = await customerWithOrder();
    for (const id of [orderId, crypto.randomUUID(), 'not-an-id']) {
      const stranger = await watch(await issuer.customer(), id, 0);
      const refused = await stranger.message();
      expect(refused).toMatchObject({ type: 'next', payload: { errors: [{ message: 'An order\'s status is visible only to its owner and staff', extensions: { code: 'FORBIDDEN' } }] } });
      expect(refused.payload.data ?? null).toBeNull();
      expect(await stranger.message()).toEqual({ id: 's', type: 'complete' });
      if (id === orderId) {
        expect(bus.subscribers(orderId)).toBe(0);
        await move(orderId, 2, 'STOCK_RESERVED');
        await quiet(stranger);
      }
    }
  });

  it('serves the owner and staff', async () => {
    const { token, orderId } = await customerWithOrder();
    const owner = await watch(token, orderId, 0);
    const staff = await watch(await issuer.staff(), orderId, 0);
    expect(await owner.next()).toEqual([1, 'PENDING']);
    expect(await staff.next()).toEqual([1, 'PENDING']);
  });

  it('refuses connections without a verified token with 4401', async () => {
    for (const payload of [undefined, { authorization: 'Bearer forged' }]) {
      const client = await connectWs(url, payload);
      expect(client.ack).toBeUndefined();
      expect((await client.closed).code).toBe(4401);
    }
  });

  it('ends a subscription with FORBIDDEN if a change of another owner ever reaches it', async () => {
    const { token, orderId } = await customerWithOrder();
    const w = await watch(token, orderId, 0);
    expect(await w.next()).toEqual([1, 'PENDING']);
    bus.publish({ orderId, userId: crypto.randomUUID(), version: 2, status: OrderStatus.STOCK_RESERVED, reason: null, at: new Date() });
    expect(await w.message()).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'FORBIDDEN' } }] });
    expect(bus.subscribers(orderId)).toBe(0);
  });
});

describe('Subscription.orderStatusChanged: history, then live, in order, each once', () => {
  it('with `after`: every change after it from the history, then live ones; completes after a final status', async () => {
    const { token, orderId } = await customerWithOrder();
    await move(orderId, 2, 'STOCK_RESERVED');
    const w = await watch(token, orderId, 1);
    expect(await w.next()).toEqual([2, 'STOCK_RESERVED']);
    await step(orderId, 'CONFIRMED');
    expect(await w.next()).toEqual([3, 'CONFIRMED']);
    await step(orderId, 'SHIPPED');
    expect(await w.next()).toEqual([4, 'SHIPPED']);
    await step(orderId, 'DELIVERED');
    expect(await w.next()).toEqual([5, 'DELIVERED']);
    expect(await w.message()).toEqual({ id: 's', type: 'complete' });
    expect(bus.subscribers(orderId)).toBe(0);

    // Later, from any cursor: exactly what came after it; nothing after the last version.
    const again = await watch(token, orderId, 3);
    expect([await again.next(), await again.next()]).toEqual([[4, 'SHIPPED'], [5, 'DELIVERED']]);
    expect(await again.message()).toEqual({ id: 's', type: 'complete' });
    const done = await watch(token, orderId, 5);
    expect(await done.message()).toEqual({ id: 's', type: 'complete' });
  });

  it('without `after`: the current status first, then live ones', async () => {
    const { token, orderId } = await customerWithOrder();
    await move(orderId, 2, 'STOCK_RESERVED');
    await move(orderId, 3, 'CONFIRMED');
    const w = await watch(token, orderId);
    expect(await w.next()).toEqual([3, 'CONFIRMED']);
    const delivered = (await scrapeMetrics(url)).value('shopgraph_live_update_delay_seconds_count') || 0;
    await step(orderId, 'SHIPPED');
    expect(await w.next()).toEqual([4, 'SHIPPED']);
    // /metrics: the subscription is open here, and the live change's delay was measured.
    const metrics = await scrapeMetrics(url);
    expect(metrics.value('shopgraph_live_subscriptions')).toBeGreaterThanOrEqual(1);
    expect(metrics.value('shopgraph_live_update_delay_seconds_count')).toBe(delivered + 1);
  });

  it('refuses a negative `after` with BAD_USER_INPUT', async () => {
    const { token, orderId } = await customerWithOrder();
    const w = await watch(token, orderId, -1);
    expect(await w.message()).toMatchObject({ type: 'next', payload: { errors: [{ extensions: { code: 'BAD_USER_INPUT' } }] } });
  });

  it('a change committed after subscribing live but before the history is read: sent once (in the history and the live buffer)', async () => {
    const { token, orderId } = await customerWithOrder();
    let hookRan = false;
    hooks.afterLiveSubscribed = async (id) => {
      if (id !== orderId) return;
      hookRan = true;
      await move(orderId, 2, 'STOCK_RESERVED'); // live on the bus, so buffered by the subscriber too
    };
    const w = await watch(token, orderId, 0);
    expect([await w.next(), await w.next()]).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED']]);
    expect(hookRan).toBe(true);
    await step(orderId, 'CONFIRMED');
    expect(await w.next()).toEqual([3, 'CONFIRMED']);
    await quiet(w);
  });

  it('a change committed after the history was read but before it was sent: sent from the live buffer, in order', async () => {
    const { token, orderId } = await customerWithOrder();
    let history: number[] | undefined;
    hooks.afterHistoryRead = async (id, read) => {
      if (id !== orderId) return;
      history = read.map((c) => c.version);
      await move(orderId, 2, 'STOCK_RESERVED');
      await move(orderId, 3, 'CONFIRMED');
    };
    const w = await watch(token, orderId, 0);
    expect([await w.next(), await w.next(), await w.next()]).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    expect(history).toEqual([1]);
    await quiet(w);
  });

  it('a live change that leaves a gap (versions this replica never saw live) is completed from the database', async () => {
    const { token, orderId } = await customerWithOrder();
    const w = await watch(token, orderId, 0);
    expect(await w.next()).toEqual([1, 'PENDING']);
    // Versions 2 and 3 committed with their events removed: nothing of them is published.
    await orm.em.fork().transactional(async (em) => {
      await transition(em, orderId, OrderStatus.STOCK_RESERVED, null);
      await transition(em, orderId, OrderStatus.CONFIRMED, null);
      await em.execute(`delete from outbox_message where key = ? and type = 'orders.order.status-changed' and (envelope->'data'->>'version')::int > 1`, [orderId]);
    });
    await quiet(w, 300);
    // Version 3 arrives live (as after a missed one): 2 is read from the database, then 3 follows.
    const [row] = await orm.em.fork().execute<{ user_id: string }[]>('select user_id from customer_order where id = ?', [orderId]);
    bus.publish({ orderId, userId: row!.user_id, version: 3, status: OrderStatus.CONFIRMED, reason: null, at: new Date() });
    expect([await w.next(), await w.next()]).toEqual([[2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    await step(orderId, 'SHIPPED');
    expect(await w.next()).toEqual([4, 'SHIPPED']);
    await quiet(w);
  });

  it('each event\'s order fields are read when the event is sent (not cached from the first one)', async () => {
    const { token, orderId } = await customerWithOrder();
    const w = await watch(token, orderId);
    const first = await w.message();
    expect(first.payload.data.orderStatusChanged).toMatchObject({ version: 1, order: { id: orderId, status: 'PENDING' } });
    await step(orderId, 'STOCK_RESERVED');
    expect((await w.message()).payload.data.orderStatusChanged).toMatchObject({ version: 2, order: { status: 'STOCK_RESERVED' } });
  });

  it('stops following when the subscriber completes or disconnects', async () => {
    const { token, orderId } = await customerWithOrder();
    const a = await watch(token, orderId, 0);
    const b = await watch(token, orderId, 0);
    await Promise.all([a.next(), b.next()]);
    expect(bus.subscribers(orderId)).toBe(2);
    a.client.send({ id: 's', type: 'complete' });
    await vi.waitFor(() => expect(bus.subscribers(orderId)).toBe(1));
    b.client.socket.terminate();
    await vi.waitFor(() => expect(bus.subscribers(orderId)).toBe(0));
  });
});

describe('Subscription.orderStatusChanged: replicas', () => {
  it('every replica receives every change: subscribers on each see them all, whichever replica made them', async () => {
    const { token, orderId } = await customerWithOrder();
    const [one, two] = [await watch(token, orderId, 0, urls[0]), await watch(token, orderId, 0, urls[1])];
    for (const w of [one, two]) expect(await w.next()).toEqual([1, 'PENDING']);
    // The saga consumer group spreads partitions over both replicas: each change is made by one of them.
    await step(orderId, 'STOCK_RESERVED');
    await step(orderId, 'PAYMENT_FAILED');
    for (const w of [one, two]) {
      expect([await w.next(), await w.next()]).toEqual([[2, 'STOCK_RESERVED'], [3, 'PAYMENT_FAILED']]);
      expect(await w.message()).toEqual({ id: 's', type: 'complete' });
    }
  });
});
