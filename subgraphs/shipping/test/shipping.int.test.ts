import type { EventData } from '@shopgraph/events';
import type { EntityManager, Orm } from '@shopgraph/kit';
import {
  consumerOutcomes, errorCodes, eventProducer, eventually, graphql, holdTransaction, newEvent, observe, stillPendingAfter,
  type AnyEvent, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer,
} from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShippingService } from '../src/domain/shipping.service.ts';
import { startShipping } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let staff: string;
let orm: Orm;
let producer: EventProducer;
let observer: EventObserver;
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startShipping({ onMessage: handled.record });
  ({ url, issuer, orm } = service);
  staff = await issuer.staff();
  producer = eventProducer();
  observer = await observe('shipping.shipment.v1');
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

type Status = EventData<'orders.order.status-changed'>['status'];

/** An order's events (not sent): its status changes by version, and its cancellation. */
function newOrder(userId: string = crypto.randomUUID()) {
  const orderId = crypto.randomUUID();
  let version = 0;
  return {
    orderId,
    userId,
    status: (status: Status): AnyEvent =>
      newEvent('orders.order.status-changed', orderId, { orderId, userId, version: ++version, status, reason: null, at: new Date().toISOString() }),
    cancelled: (previousStatus?: Status): AnyEvent => newEvent('orders.order.cancelled', orderId, { orderId, userId, reason: 'Cancelled by the customer', previousStatus }),
  };
}

/** Sends events one after the other, each handled by the consumer before the next is sent. */
async function deliverInOrder(...events: AnyEvent[]): Promise<void> {
  const seen = new Map<string, number>();
  for (const event of events) {
    const times = (seen.get(event.id) ?? 0) + 1;
    seen.set(event.id, times);
    await producer.send(event);
    const handlings = await handled.handled(event, times);
    // Handled cleanly: a domain that is not idempotent shows up as retries that end dead-lettered.
    expect(handlings.map((o) => o.result)).not.toContain('dead-lettered');
  }
}

/** A confirmed order with its (PENDING) shipment. */
async function confirmedOrder(userId?: string) {
  const order = newOrder(userId);
  await deliverInOrder(order.status('PENDING'), order.status('STOCK_RESERVED'), order.status('CONFIRMED'));
  await eventually(() => shipmentRows(order.orderId).then((rows) => rows.length === 1), 'the shipment');
  return order;
}

const shipmentRows = (orderId: string) =>
  orm.em.fork().execute<{ id: string; status: string; tracking_number: string; user_id: string }[]>('select id, status, tracking_number, user_id from shipment where order_id = ?', [orderId]);
/** Shipping events recorded in the outbox for an order. */
const recorded = async (orderId: string) =>
  (await orm.em.fork().execute<{ type: string }[]>(`select type from outbox_message where envelope->'data'->>'orderId' = ? order by seq`, [orderId])).map((r) => r.type);
const published = (orderId: string, type: string) => observer.waitFor((r) => r.envelope.type === type && (r.envelope.data as { orderId: string }).orderId === orderId);

const SHIPMENT = 'id status trackingNumber events { status description at }';
const MARK_SHIPPED = `mutation($input: MarkShippedInput!) { markShipped(input: $input) { shipment { ${SHIPMENT} } errors { code message field } } }`;
const MARK_DELIVERED = `mutation($input: MarkDeliveredInput!) { markDelivered(input: $input) { shipment { ${SHIPMENT} } errors { code message field } } }`;
const ORDER_SHIPMENT = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id shipment { ${SHIPMENT} } } } }`;

async function mark(query: string, orderId: string, token = staff) {
  const response = await graphql(url, query, { input: { orderId } }, token);
  expect(response.errors).toBeUndefined();
  return response.data![query === MARK_SHIPPED ? 'markShipped' : 'markDelivered'] as {
    shipment: { id: string; status: string; trackingNumber: string; events: { status: string; description: string; at: string }[] } | null;
    errors: { code: string; message: string; field: string[] }[];
  };
}

describe('shipping saga', () => {
  it('creates one shipment when the order is CONFIRMED, however often the event arrives', async () => {
    const order = newOrder();
    const confirmed = order.status('CONFIRMED');
    await deliverInOrder(order.status('PENDING'), order.status('STOCK_RESERVED'));
    expect(await shipmentRows(order.orderId)).toEqual([]);

    await deliverInOrder(confirmed, confirmed, { ...confirmed, id: crypto.randomUUID() });
    expect(handled.resultsOf(confirmed)).toEqual(['processed', 'duplicate']);
    const rows = await shipmentRows(order.orderId);
    expect(rows).toEqual([{ id: expect.any(String), status: 'PENDING', tracking_number: expect.stringMatching(/^SG[0-9A-Z]{10}$/), user_id: order.userId }]);
    expect(await recorded(order.orderId)).toEqual(['shipping.shipment.created']);

    const [created] = await published(order.orderId, 'shipping.shipment.created');
    expect(created!.envelope).toMatchObject({ subject: rows[0]!.id, source: 'shipping', data: { orderId: order.orderId, shipmentId: rows[0]!.id, trackingNumber: rows[0]!.tracking_number } });
    expect(created!.key).toBe(rows[0]!.id);
  });

  it('cancels a PENDING shipment with its order, but not one on its way', async () => {
    const pending = await confirmedOrder();
    await deliverInOrder(pending.cancelled());
    expect((await shipmentRows(pending.orderId))[0]!.status).toBe('CANCELLED');

    const shipped = await confirmedOrder();
    expect((await mark(MARK_SHIPPED, shipped.orderId)).errors).toEqual([]);
    await deliverInOrder(shipped.cancelled());
    expect((await shipmentRows(shipped.orderId))[0]!.status).toBe('SHIPPED');

    // An order cancelled before it was confirmed has no shipment, and gets none.
    const never = newOrder();
    await deliverInOrder(never.status('PENDING'), never.cancelled());
    expect(await shipmentRows(never.orderId)).toEqual([]);
  });

  it('gives its verdict on a confirmed order\'s cancellation: shipping.shipment.cancelled once, or nothing when the goods had left', async () => {
    const stopped = await confirmedOrder();
    const cancelled = stopped.cancelled('CONFIRMED');
    await deliverInOrder(cancelled, cancelled, { ...cancelled, id: crypto.randomUUID() });
    const [row] = await shipmentRows(stopped.orderId);
    expect(row!.status).toBe('CANCELLED');
    expect(await recorded(stopped.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);
    const [verdict] = await published(stopped.orderId, 'shipping.shipment.cancelled');
    expect(verdict!.key).toBe(row!.id);
    expect(verdict!.envelope.data).toEqual({ orderId: stopped.orderId, shipmentId: row!.id, trackingNumber: row!.tracking_number, reason: 'Cancelled by the customer', at: expect.any(String) });
    expect((await mark(MARK_SHIPPED, stopped.orderId)).errors).toEqual([{ code: 'INVALID_TRANSITION', message: expect.stringMatching(/CANCELLED/), field: ['input', 'orderId'] }]);

    // The shipment left first: its shipped event (published before) is the refusal; nothing more.
    const gone = await confirmedOrder();
    expect((await mark(MARK_SHIPPED, gone.orderId)).errors).toEqual([]);
    await deliverInOrder(gone.cancelled('CONFIRMED'));
    expect((await shipmentRows(gone.orderId))[0]!.status).toBe('SHIPPED');
    expect(await recorded(gone.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.shipped']);
  });

  it('lets exactly one of markShipped and a racing cancellation win, for every order', async () => {
    const orders = await Promise.all(Array.from({ length: 6 }, () => confirmedOrder()));
    const outcomes = await Promise.all(
      orders.map(async (order) => {
        const [marked] = await Promise.all([mark(MARK_SHIPPED, order.orderId), deliverInOrder(order.cancelled('CONFIRMED'))]);
        const [row] = await shipmentRows(order.orderId);
        return { marked, status: row!.status, recorded: await recorded(order.orderId) };
      }),
    );
    for (const { marked, status, recorded } of outcomes) {
      if (marked.errors.length) {
        expect(marked).toEqual({ shipment: null, errors: [{ code: 'INVALID_TRANSITION', message: expect.stringMatching(/CANCELLED/), field: ['input', 'orderId'] }] });
        expect(status).toBe('CANCELLED');
        expect(recorded).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);
      } else {
        expect(marked.shipment!.status).toBe('SHIPPED');
        expect(status).toBe('SHIPPED');
        expect(recorded).toEqual(['shipping.shipment.created', 'shipping.shipment.shipped']);
      }
    }
  });

  it('cancels at once the shipment of a confirmed order whose CONFIRMED it has not handled yet; the late CONFIRMED adds none', async () => {
    const order = newOrder();
    const confirmed = order.status('CONFIRMED');
    await deliverInOrder(order.cancelled('CONFIRMED'));
    const rows = await shipmentRows(order.orderId);
    expect(rows).toEqual([{ id: expect.any(String), status: 'CANCELLED', tracking_number: expect.any(String), user_id: order.userId }]);
    expect(await recorded(order.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);

    await deliverInOrder(confirmed);
    expect(await shipmentRows(order.orderId)).toEqual(rows);
    expect(await recorded(order.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);
  });
  it("serialises the creation of a shipment with a confirmed order's cancellation on the order's lock, whichever holds it first", async () => {
    type Step = (em: EntityManager) => Promise<unknown>;
    const confirm = (order: ReturnType<typeof newOrder>): Step => (em) => new ShippingService(em).orderStatusChanged(order.status('CONFIRMED').data as EventData<'orders.order.status-changed'>);
    const cancel = (order: ReturnType<typeof newOrder>): Step => (em) => new ShippingService(em).orderCancelled(order.cancelled('CONFIRMED').data as EventData<'orders.order.cancelled'>);
    for (const [first, second] of [[confirm, cancel], [cancel, confirm]] as const) {
      const order = newOrder();
      const held = await holdTransaction(orm, first(order));
      const waiting = orm.em.fork().transactional(second(order));
      expect(await stillPendingAfter(waiting), 'the second waits for the first').toBe(true);
      await held.commit();
      await waiting;
      // One shipment, cancelled: created by the confirmation and cancelled after it, or created cancelled and not again.
      expect((await shipmentRows(order.orderId)).map((row) => row.status)).toEqual(['CANCELLED']);
      expect(await recorded(order.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);
    }
  });
});

describe('shipping API', () => {
  it('moves a shipment PENDING → SHIPPED → DELIVERED, publishing each step once', async () => {
    const order = await confirmedOrder();
    const [row] = await shipmentRows(order.orderId);

    const early = await mark(MARK_DELIVERED, order.orderId);
    expect(early).toEqual({ shipment: null, errors: [{ code: 'INVALID_TRANSITION', message: expect.stringMatching(/PENDING/), field: ['input', 'orderId'] }] });

    const shipped = await mark(MARK_SHIPPED, order.orderId);
    expect(shipped.errors).toEqual([]);
    expect(shipped.shipment).toEqual({
      id: row!.id,
      status: 'SHIPPED',
      trackingNumber: row!.tracking_number,
      events: [
        { status: 'PENDING', description: expect.any(String), at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) },
        { status: 'SHIPPED', description: expect.any(String), at: expect.any(String) },
      ],
    });
    // A courier retrying: success, and nothing changes.
    expect(await mark(MARK_SHIPPED, order.orderId)).toEqual(shipped);

    const delivered = await mark(MARK_DELIVERED, order.orderId);
    expect(delivered.errors).toEqual([]);
    expect(delivered.shipment!.status).toBe('DELIVERED');
    expect(delivered.shipment!.events.map((e) => e.status)).toEqual(['PENDING', 'SHIPPED', 'DELIVERED']);
    expect(await mark(MARK_DELIVERED, order.orderId)).toEqual(delivered);
    expect((await mark(MARK_SHIPPED, order.orderId)).errors.map((e) => e.code)).toEqual(['INVALID_TRANSITION']);

    expect(await recorded(order.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.shipped', 'shipping.shipment.delivered']);
    const [shippedEvent] = await published(order.orderId, 'shipping.shipment.shipped');
    expect(shippedEvent!.envelope.data).toEqual({ orderId: order.orderId, shipmentId: row!.id, trackingNumber: row!.tracking_number, at: shipped.shipment!.events[1]!.at });
    const [deliveredEvent] = await published(order.orderId, 'shipping.shipment.delivered');
    expect(deliveredEvent!.envelope.data).toEqual({ orderId: order.orderId, shipmentId: row!.id, trackingNumber: row!.tracking_number, at: delivered.shipment!.events[2]!.at });
  });

  it('reports SHIPMENT_NOT_FOUND and INVALID_TRANSITION as typed errors', async () => {
    for (const orderId of [crypto.randomUUID(), 'not-an-id']) {
      for (const query of [MARK_SHIPPED, MARK_DELIVERED]) {
        expect(await mark(query, orderId)).toEqual({ shipment: null, errors: [{ code: 'SHIPMENT_NOT_FOUND', message: expect.any(String), field: ['input', 'orderId'] }] });
      }
    }
    const cancelled = await confirmedOrder();
    await deliverInOrder(cancelled.cancelled());
    for (const query of [MARK_SHIPPED, MARK_DELIVERED]) {
      expect((await mark(query, cancelled.orderId)).errors).toEqual([{ code: 'INVALID_TRANSITION', message: expect.stringMatching(/CANCELLED/), field: ['input', 'orderId'] }]);
    }
    expect(await recorded(cancelled.orderId)).toEqual(['shipping.shipment.created', 'shipping.shipment.cancelled']);
  });

  it('lets only staff mark shipments (FORBIDDEN for customers, UNAUTHENTICATED for anonymous callers)', async () => {
    const order = await confirmedOrder();
    for (const query of [MARK_SHIPPED, MARK_DELIVERED]) {
      const asOwner = await graphql(url, query, { input: { orderId: order.orderId } }, await issuer.customer(order.userId));
      expect(errorCodes(asOwner)).toEqual(['FORBIDDEN']);
      expect(asOwner.data).toBeNull();
      expect(errorCodes(await graphql(url, query, { input: { orderId: order.orderId } }))).toEqual(['UNAUTHENTICATED']);
    }
    expect((await shipmentRows(order.orderId))[0]!.status).toBe('PENDING');
  });

  it('shows Order.shipment to the customer who placed the order and to staff; null to anyone else', async () => {
    const order = await confirmedOrder();
    const [row] = await shipmentRows(order.orderId);
    const unconfirmed = crypto.randomUUID();
    const r = [order.orderId, unconfirmed, 'not-an-id'].map((id) => ({ __typename: 'Order', id }));
    const shipment = { id: row!.id, status: 'PENDING', trackingNumber: row!.tracking_number, events: [{ status: 'PENDING', description: expect.any(String), at: expect.any(String) }] };

    for (const token of [await issuer.customer(order.userId), staff]) {
      const response = await graphql(url, ORDER_SHIPMENT, { r }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual([{ id: order.orderId, shipment }, { id: unconfirmed, shipment: null }, { id: 'not-an-id', shipment: null }]);
    }
    for (const token of [await issuer.customer(), undefined]) {
      const response = await graphql(url, ORDER_SHIPMENT, { r: r.slice(0, 1) }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual([{ id: order.orderId, shipment: null }]);
    }
  });

  it('reports ready while its database answers', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
