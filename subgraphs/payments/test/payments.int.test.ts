import { replayDeadLetters, type EntityManager, type Orm } from '@shopgraph/kit';
import {
  consumerOutcomes, createTestKafka, eventProducer, eventually, graphql, holdTransaction, newEvent, observe, stillPendingAfter,
  type AnyEvent, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer,
} from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPaymentGateway } from '../src/clients/test-payment.client.ts';
import { PaymentService } from '../src/domain/payment.service.ts';
import { copyOf, newOrder, startPayments, type Order } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
let observer: EventObserver;
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startPayments({ onMessage: handled.record });
  ({ url, issuer, orm } = service);
  producer = eventProducer();
  observer = await observe('payments.payment.v1');
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

/** Sends events one after the other, each handled by the consumer before the next is sent (so their order is the order given). */
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

interface PaymentRow {
  id: string;
  status: string;
  amount: number | null;
  method: string | null;
  failure_code: string | null;
  failure_reason: string | null;
  provider_reference: string | null;
  stock_reserved: boolean;
}
async function paymentOf(orderId: string): Promise<PaymentRow | undefined> {
  const [row] = await orm.em.fork().execute<PaymentRow[]>('select * from payment where order_id = ?', [orderId]);
  return row;
}
const settled = (orderId: string, status: string) =>
  eventually(async () => {
    const row = await paymentOf(orderId);
    return row?.status === status && row;
  }, `payment of ${orderId} ${status}`);
/** The test provider's ledger rows for an order: its charge (key = order id) and refund. */
const ledgerOf = (orderId: string) =>
  orm.em.fork().execute<{ idempotency_key: string; kind: string; amount: number; outcome: string; decline_code: string | null }[]>(
    'select idempotency_key, kind, amount, outcome, decline_code from test_provider_charge where idempotency_key in (?, ?) order by created_at',
    [orderId, `refund:${orderId}`],
  );
/** Payment events recorded in the outbox for an order. */
const recorded = async (orderId: string) =>
  (await orm.em.fork().execute<{ type: string }[]>(`select type from outbox_message where envelope->'data'->>'orderId' = ? order by seq`, [orderId])).map((r) => r.type);
const published = (orderId: string, type: string) => observer.waitFor((r) => r.envelope.type === type && (r.envelope.data as { orderId: string }).orderId === orderId);

/**
 * Makes inserts into `table` whose `column` is `value` fail (a fault injected into the database,
 * e.g. a provider that is down) until the returned repair is called.
 */
async function failInserts(table: string, column: string, value: string): Promise<() => Promise<void>> {
  const name = `injected_fault_${crypto.randomUUID().replaceAll('-', '')}`;
  const sql = (query: string) => orm.em.fork().execute(query);
  await sql(`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'injected fault'; end $$`);
  await sql(`create trigger ${name} before insert on ${table} for each row when (new.${column} = '${value}') execute function ${name}()`);
  return async () => {
    await sql(`drop trigger ${name} on ${table}`);
    await sql(`drop function ${name}()`);
  };
}

describe('payments saga', () => {
  it('charges the test cards with their outcomes and publishes the result', async () => {
    const cases = [
      { method: 'pm_card_visa', status: 'SUCCEEDED', code: null, reason: null },
      { method: 'pm_card_chargeDeclined', status: 'FAILED', code: 'card_declined', reason: 'Your card was declined.' },
      { method: 'pm_card_chargeDeclinedInsufficientFunds', status: 'FAILED', code: 'insufficient_funds', reason: 'Your card has insufficient funds.' },
      { method: 'pm_card_madeUp', status: 'FAILED', code: 'unknown_payment_method', reason: expect.any(String) },
    ];
    const orders = cases.map((c, i) => newOrder(c.method, 1_000 * (i + 1)));
    await producer.send(...orders.flatMap((o) => [o.placed, o.reserved]));

    for (const [i, c] of cases.entries()) {
      const { orderId } = orders[i]!;
      const row = await settled(orderId, c.status);
      expect(row).toMatchObject({ amount: 1_000 * (i + 1), method: c.method, failure_code: c.code, failure_reason: c.reason, stock_reserved: true });
      expect(await ledgerOf(orderId)).toEqual([{ idempotency_key: orderId, kind: 'charge', amount: 1_000 * (i + 1), outcome: c.code ? 'declined' : 'succeeded', decline_code: c.code }]);
      const amount = { amount: 1_000 * (i + 1), currency: 'USD' };
      if (c.status === 'SUCCEEDED') {
        expect(row.provider_reference).toMatch(/^ch_test_/);
        const [event] = await published(orderId, 'payments.payment.succeeded');
        expect(event!.envelope).toMatchObject({ subject: row.id, source: 'payments', data: { orderId, paymentId: row.id, amount } });
        expect(event!.key).toBe(row.id);
      } else {
        const [event] = await published(orderId, 'payments.payment.failed');
        expect(event!.envelope.data).toEqual({ orderId, paymentId: row.id, amount, code: c.code, reason: c.reason });
      }
    }
  });

  it('waits for both the order and its stock reservation: neither alone charges', async () => {
    const onlyPlaced = newOrder();
    const onlyReserved = newOrder();
    await deliverInOrder(onlyPlaced.placed, onlyReserved.reserved);
    expect(await paymentOf(onlyPlaced.orderId)).toMatchObject({ status: 'PENDING', stock_reserved: false, amount: 4_200 });
    expect(await paymentOf(onlyReserved.orderId)).toMatchObject({ status: 'PENDING', stock_reserved: true, amount: null });
    expect(await ledgerOf(onlyPlaced.orderId)).toEqual([]);
    expect(await ledgerOf(onlyReserved.orderId)).toEqual([]);
  });

  describe('charges exactly once when placed and reserved each arrive twice', () => {
    async function expectChargedOnce(order: Order): Promise<void> {
      const row = await settled(order.orderId, 'SUCCEEDED');
      expect(await ledgerOf(order.orderId)).toHaveLength(1);
      expect(await recorded(order.orderId)).toEqual(['payments.payment.succeeded']);
      const events = await published(order.orderId, 'payments.payment.succeeded');
      expect(new Set(events.map((e) => e.envelope.id)).size).toBe(1);
      expect(events[0]!.envelope.data).toMatchObject({ paymentId: row.id });
    }

    it('order placed first', async () => {
      const order = newOrder();
      await deliverInOrder(order.placed, order.placed, order.reserved, order.reserved, copyOf(order.reserved), copyOf(order.placed));
      expect(handled.resultsOf(order.reserved)).toEqual(['processed', 'duplicate']);
      await expectChargedOnce(order);
    });

    it('stock reserved first', async () => {
      const order = newOrder();
      await deliverInOrder(order.reserved, order.reserved, order.placed, order.placed, copyOf(order.placed), copyOf(order.reserved));
      expect(handled.resultsOf(order.placed)).toEqual(['processed', 'duplicate']);
      await expectChargedOnce(order);
    });

    it('all at once (handled concurrently: the topics are consumed in parallel)', async () => {
      const order = newOrder();
      const copies = [copyOf(order.reserved), copyOf(order.placed)];
      await producer.send(order.placed, order.reserved, copies[0]!, order.placed, copies[1]!, order.reserved);
      for (const event of [order.placed, order.reserved]) await handled.handled(event, 2);
      for (const event of copies) await handled.handled(event);
      // Serialised on the order, not raced: no handling needed a second attempt (e.g. after a unique violation).
      const attempts = [order.placed, order.reserved, ...copies].flatMap((event) => handled.all.filter((o) => o.eventId === event.id).map((o) => o.attempts));
      expect(Math.max(...attempts)).toBe(1);
      await expectChargedOnce(order);
    });
  });

  it("serialises a saga step with a cancellation on the order's lock, whichever holds it first (one replica's consumer against another's)", async () => {
    const data = <T>(event: AnyEvent) => event.data as T;
    const payments = (em: EntityManager) => new PaymentService(em, testPaymentGateway);
    const inTransaction = (work: (p: PaymentService) => Promise<unknown>) => orm.em.fork().transactional((em) => work(payments(em)));
    const steps = [
      { first: 'placed', step: (p: PaymentService, o: Order) => p.orderPlaced(data(o.placed)) },
      { first: 'reserved', step: (p: PaymentService, o: Order) => p.stockReserved(o.orderId) },
    ];
    for (const { first, step } of steps) {
      // The step holds the lock in an open transaction; the cancellation waits for it, then cancels what it wrote.
      const order = newOrder();
      const held = await holdTransaction(orm, (em) => step(payments(em), order));
      const cancelling = inTransaction((p) => p.orderCancelled(data(order.cancelled)));
      expect(await stillPendingAfter(cancelling), `cancellation waits for the ${first} step`).toBe(true);
      await held.commit();
      await cancelling;
      expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', stock_reserved: first === 'reserved', amount: first === 'placed' ? 4_200 : null });
    }
    // The cancellation holds the lock first; the step waits, finds the tombstone and charges nothing.
    const order = newOrder();
    await inTransaction((p) => p.orderPlaced(data(order.placed)));
    const held = await holdTransaction(orm, (em) => payments(em).orderCancelled(data(order.cancelled)));
    const reserving = inTransaction((p) => p.stockReserved(order.orderId));
    expect(await stillPendingAfter(reserving)).toBe(true);
    await held.commit();
    await reserving;
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', stock_reserved: true });
    expect(await ledgerOf(order.orderId)).toEqual([]);
  });

  it('refunds a captured payment once when the order is cancelled', async () => {
    const order = newOrder('pm_card_visa', 7_500);
    await deliverInOrder(order.placed, order.reserved);
    const charged = await settled(order.orderId, 'SUCCEEDED');
    await deliverInOrder(order.cancelled, order.cancelled, copyOf(order.cancelled));

    expect(await settled(order.orderId, 'REFUNDED')).toMatchObject({ provider_reference: charged.provider_reference });
    expect((await ledgerOf(order.orderId)).map((r) => [r.idempotency_key, r.kind, r.amount])).toEqual([
      [order.orderId, 'charge', 7_500],
      [`refund:${order.orderId}`, 'refund', 7_500],
    ]);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.succeeded', 'payments.payment.refunded']);
    const [refunded] = await published(order.orderId, 'payments.payment.refunded');
    expect(refunded!.envelope.data).toEqual({ orderId: order.orderId, paymentId: charged.id, amount: { amount: 7_500, currency: 'USD' } });
  });

  it('never charges an order cancelled while its payment was pending, even when the stock reservation comes later', async () => {
    const order = newOrder();
    await deliverInOrder(order.placed, order.cancelled, order.reserved, copyOf(order.reserved));
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', stock_reserved: true });
    expect(await ledgerOf(order.orderId)).toEqual([]);
    expect(await recorded(order.orderId)).toEqual([]);
  });

  it('never charges an order whose cancellation came before anything else about it', async () => {
    const order = newOrder();
    await deliverInOrder(order.cancelled, order.reserved, order.placed);
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', amount: 4_200, stock_reserved: true });
    expect(await ledgerOf(order.orderId)).toEqual([]);
  });

  it('cancels the payment intent of an order whose stock was rejected, and never charges it', async () => {
    const order = newOrder();
    const shortages = [{ productId: crypto.randomUUID(), requested: 1, available: 0 }];
    const rejected = newEvent('inventory.stock.rejected', order.orderId, { orderId: order.orderId, reason: 'out of stock', shortages });
    await deliverInOrder(order.placed, rejected, copyOf(rejected));
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', stock_reserved: false });
    expect(await ledgerOf(order.orderId)).toEqual([]);
    expect(await recorded(order.orderId)).toEqual([]);
  });

  describe('a confirmed order\'s cancellation waits for shipping\'s verdict', () => {
    const cancelledOnceConfirmed = (order: Order) =>
      newEvent('orders.order.cancelled', order.orderId, { orderId: order.orderId, userId: order.userId, reason: 'Cancelled by the customer', previousStatus: 'CONFIRMED' });
    const shipmentCancelled = (order: Order) => {
      const shipmentId = crypto.randomUUID();
      return newEvent('shipping.shipment.cancelled', shipmentId, { orderId: order.orderId, shipmentId, trackingNumber: 'SG1234567890', reason: 'Cancelled by the customer', at: new Date().toISOString() });
    };
    const charged = (order: Order) => ledgerOf(order.orderId).then((rows) => rows.map((r) => [r.kind, r.outcome]));

    it('refunds once shipping stopped the shipment, whichever of the two events comes first', async () => {
      const [first, second] = [newOrder(), newOrder()];
      await deliverInOrder(first.placed, first.reserved, second.placed, second.reserved);
      await settled(first.orderId, 'SUCCEEDED');
      await settled(second.orderId, 'SUCCEEDED');

      await deliverInOrder(cancelledOnceConfirmed(first));
      expect(await paymentOf(first.orderId)).toMatchObject({ status: 'SUCCEEDED' });
      expect(await charged(first)).toEqual([['charge', 'succeeded']]);
      const verdict = shipmentCancelled(first);
      await deliverInOrder(verdict, verdict, shipmentCancelled(first));

      await deliverInOrder(shipmentCancelled(second), cancelledOnceConfirmed(second));
      for (const order of [first, second]) {
        expect(await paymentOf(order.orderId)).toMatchObject({ status: 'REFUNDED' });
        expect(await charged(order)).toEqual([['charge', 'succeeded'], ['refund', 'succeeded']]);
        expect(await recorded(order.orderId)).toEqual(['payments.payment.succeeded', 'payments.payment.refunded']);
      }
    });

    it('keeps the payment when no verdict comes (the goods had left)', async () => {
      const order = newOrder();
      await deliverInOrder(order.placed, order.reserved);
      await settled(order.orderId, 'SUCCEEDED');
      const cancelled = cancelledOnceConfirmed(order);
      await deliverInOrder(cancelled);
      expect(handled.resultsOf(cancelled)).toEqual(['processed']);
      expect(await paymentOf(order.orderId)).toMatchObject({ status: 'SUCCEEDED' });
      expect(await charged(order)).toEqual([['charge', 'succeeded']]);
      expect(await recorded(order.orderId)).toEqual(['payments.payment.succeeded']);
    });
  });

  it('charges nothing when a dead-lettered placed or stock.reserved is replayed after the order was cancelled', async () => {
    // The charge fails (a fault injected into the provider's ledger) until the event is dead-lettered.
    const lateReservation = newOrder();
    const latePlacement = newOrder();
    await deliverInOrder(lateReservation.placed, latePlacement.reserved);
    const repairs = [await failInserts('test_provider_charge', 'idempotency_key', lateReservation.orderId), await failInserts('test_provider_charge', 'idempotency_key', latePlacement.orderId)];
    const deadLetters = [lateReservation.reserved, latePlacement.placed];
    await producer.send(...deadLetters);
    for (const event of deadLetters) expect((await handled.handled(event)).map((o) => o.result)).toEqual(['dead-lettered']);
    for (const repair of repairs) await repair();

    // The saga times the orders out; payments voids both payments.
    const timedOut = (order: Order) => newEvent('orders.order.cancelled', order.orderId, { orderId: order.orderId, userId: order.userId, reason: 'saga timed out', previousStatus: 'STOCK_RESERVED' });
    await deliverInOrder(timedOut(lateReservation), timedOut(latePlacement));

    // Replayed with the same event ids, which were never recorded as processed: handled, not deduplicated.
    const kafka = createTestKafka('dlq-replay');
    try {
      expect(await replayDeadLetters(kafka, 'payments.saga')).toBe(2);
    } finally {
      await kafka.close();
    }
    for (const event of deadLetters) expect((await handled.handled(event, 2)).map((o) => o.result)).toEqual(['dead-lettered', 'processed']);
    for (const order of [lateReservation, latePlacement]) {
      expect(await paymentOf(order.orderId)).toMatchObject({ status: 'CANCELLED', amount: 4_200, stock_reserved: true });
      expect(await ledgerOf(order.orderId)).toEqual([]);
      expect(await recorded(order.orderId)).toEqual([]);
    }
  });

  it('leaves a failed payment as it is when the order is cancelled', async () => {
    const order = newOrder('pm_card_chargeDeclined');
    await deliverInOrder(order.placed, order.reserved, order.cancelled);
    expect(await paymentOf(order.orderId)).toMatchObject({ status: 'FAILED', failure_code: 'card_declined' });
    expect(await ledgerOf(order.orderId)).toHaveLength(1);
    expect(await recorded(order.orderId)).toEqual(['payments.payment.failed']);
  });
});

describe('payments API', () => {
  const ORDER_PAYMENT = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id payment { id status amount { amount currency } method failureReason failureCode } } } }`;

  it('shows Order.payment to the customer who placed the order and to staff; null to anyone else', async () => {
    const owner = crypto.randomUUID();
    const paid = newOrder('pm_card_visa', 1_234, owner);
    const declined = newOrder('pm_card_chargeDeclinedInsufficientFunds', 999, owner);
    await deliverInOrder(paid.placed, paid.reserved, declined.placed, declined.reserved);
    const paidRow = (await paymentOf(paid.orderId))!;
    const declinedRow = (await paymentOf(declined.orderId))!;
    const unknown = crypto.randomUUID();
    const r = [paid.orderId, declined.orderId, unknown, 'not-an-id'].map((id) => ({ __typename: 'Order', id }));
    const expected = [
      { id: paid.orderId, payment: { id: paidRow.id, status: 'SUCCEEDED', amount: { amount: 1_234, currency: 'USD' }, method: 'pm_card_visa', failureReason: null, failureCode: null } },
      {
        id: declined.orderId,
        payment: { id: declinedRow.id, status: 'FAILED', amount: { amount: 999, currency: 'USD' }, method: 'pm_card_chargeDeclinedInsufficientFunds', failureReason: 'Your card has insufficient funds.', failureCode: 'insufficient_funds' },
      },
      { id: unknown, payment: null },
      { id: 'not-an-id', payment: null },
    ];

    for (const token of [await issuer.customer(owner), await issuer.staff()]) {
      const response = await graphql(url, ORDER_PAYMENT, { r }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual(expected);
    }
    const hidden = expected.map(({ id }) => ({ id, payment: null }));
    for (const token of [await issuer.customer(), undefined]) {
      const response = await graphql(url, ORDER_PAYMENT, { r }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual(hidden);
    }
  });

  it('shows no payment until payments knows the order, even to staff', async () => {
    const order = newOrder();
    await deliverInOrder(order.reserved);
    const response = await graphql(url, ORDER_PAYMENT, { r: [{ __typename: 'Order', id: order.orderId }] }, await issuer.staff());
    expect(response.data!['_entities']).toEqual([{ id: order.orderId, payment: null }]);
  });

  it('looks up payment methods', async () => {
    const one = await graphql(url, `query($id: ID!) { paymentMethod(id: $id) { id description } }`, { id: 'pm_card_chargeDeclined' });
    expect(one.data!['paymentMethod']).toEqual({ id: 'pm_card_chargeDeclined', description: expect.stringMatching(/declined/) });
    expect((await graphql(url, `{ paymentMethod(id: "pm_card_nope") { id } }`)).data!['paymentMethod']).toBeNull();
    const all = await graphql(url, `{ paymentMethods { id } }`);
    expect(all.data!['paymentMethods'].map((m: { id: string }) => m.id)).toEqual(['pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds']);
  });

  it('reports ready while its database answers', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
