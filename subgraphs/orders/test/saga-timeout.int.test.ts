import type { Orm } from '@shopgraph/kit';
import { eventProducer, graphql, observe, scrapeMetrics, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { address, ORDER, orderEvent, PLACE, publishedEvents, standInCheckout, startOrders } from './support.ts';

const SAGA_TIMEOUT_MS = 2000;
const checkout = standInCheckout();

// Two replicas of the orders process on one database and one set of topics, each with its sweeper.
let service: ServiceUnderTest;
let urls: string[];
let issuer: TestIssuer;
let orm: Orm;
let producer: EventProducer;
let published: EventObserver;

beforeAll(async () => {
  service = await startOrders({ checkout: checkout.source }, { replicas: 2, env: { SAGA_TIMEOUT_MS: String(SAGA_TIMEOUT_MS), SAGA_SWEEP_INTERVAL_MS: '100' } });
  ({ issuer, orm } = service);
  urls = service.replicas.map((replica) => replica.url);
  producer = eventProducer();
  published = await observe('orders.order.v1');
});
afterAll(async () => {
  await published?.close();
  await producer?.close();
  await service?.close();
});

async function place(token: string, url: string): Promise<string> {
  const response = await graphql(url, PLACE, { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: address, paymentMethod: 'pm_card_visa' } }, token);
  expect(response.data?.['placeOrder']?.errors).toEqual([]);
  return response.data!['placeOrder'].order.id;
}

async function history(token: string, id: string): Promise<{ version: number; status: string; reason: string | null; at: string }[]> {
  const response = await graphql(url0(), ORDER, { id }, token);
  return response.data!['order'].statusHistory;
}
const url0 = () => urls[0]!;
const statusOf = async (token: string, id: string) => (await history(token, id)).at(-1)!.status;
const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('stuck-saga timeout', () => {
  it('cancels orders no saga step moved within the timeout, once each with two replicas sweeping, and publishes order.cancelled', async () => {
    const userId = crypto.randomUUID();
    const token = await issuer.customer(userId);
    checkout.carts.set(token, [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(999) }]);

    // The saga observer is consuming (both replicas have joined its group) before the clock matters.
    const warmUp = await place(token, url0());
    await producer.send(orderEvent('payments.payment.succeeded', { orderId: warmUp, paymentId: crypto.randomUUID(), amount: usd(999) }));
    await vi.waitFor(async () => expect(await statusOf(token, warmUp)).toBe('CONFIRMED'), { timeout: 15_000, interval: 50 });

    const stuck = await Promise.all(Array.from({ length: 12 }, (_, i) => place(token, urls[i % 2]!)));
    const [reserved, confirmed] = [await place(token, url0()), await place(token, url0())];
    // One order the saga moves on but leaves waiting (for payment), one it takes out of reach.
    await producer.send(
      orderEvent('inventory.stock.reserved', { orderId: reserved, lines: [] }),
      orderEvent('payments.payment.succeeded', { orderId: confirmed, paymentId: crypto.randomUUID(), amount: usd(999) }),
    );
    await vi.waitFor(async () => {
      expect(await statusOf(token, reserved)).toBe('STOCK_RESERVED');
      expect(await statusOf(token, confirmed)).toBe('CONFIRMED');
    }, { timeout: 10_000, interval: 50 });

    await vi.waitFor(async () => {
      for (const id of [...stuck, reserved]) expect(await statusOf(token, id)).toBe('CANCELLED');
    }, { timeout: 20_000, interval: 200 });

    for (const id of stuck) {
      const changes = await history(token, id);
      expect(changes.map((c) => [c.version, c.status, c.reason])).toEqual([[1, 'PENDING', null], [2, 'CANCELLED', 'saga timed out']]);
      // Timed out from the last status change, not before.
      expect(Date.parse(changes[1]!.at) - Date.parse(changes[0]!.at)).toBeGreaterThanOrEqual(SAGA_TIMEOUT_MS);
    }
    const reservedChanges = await history(token, reserved);
    expect(reservedChanges.map((c) => [c.version, c.status, c.reason])).toEqual([[1, 'PENDING', null], [2, 'STOCK_RESERVED', null], [3, 'CANCELLED', 'saga timed out']]);
    expect(Date.parse(reservedChanges[2]!.at) - Date.parse(reservedChanges[1]!.at)).toBeGreaterThanOrEqual(SAGA_TIMEOUT_MS);

    // Compensation is triggered: order.cancelled reaches Kafka for each, recorded exactly once.
    const cancelled = [...stuck, reserved];
    await vi.waitFor(() => {
      const seen = publishedEvents(published).filter((e) => e.type === 'orders.order.cancelled');
      expect(new Set(seen.map((e) => e.subject))).toEqual(new Set(cancelled));
    }, { timeout: 20_000, interval: 100 });
    for (const event of publishedEvents(published).filter((e) => e.type === 'orders.order.cancelled')) {
      expect(event).toMatchObject({ key: event.subject, source: 'orders', data: { orderId: event.subject, userId, reason: 'saga timed out' } });
    }
    const [row] = await orm.em.fork().execute<{ n: number; orders: number }[]>(
      `select count(*)::int as n, count(distinct key)::int as orders from outbox_message where type = 'orders.order.cancelled'`,
    );
    expect(row).toEqual({ n: cancelled.length, orders: cancelled.length });

    // Well past the timeout, the confirmed order is untouched.
    expect(await history(token, confirmed)).toHaveLength(3);
    expect(await statusOf(token, confirmed)).toBe('CONFIRMED');

    // How the sagas ended, summed over both replicas' /metrics: each counted once, where it happened.
    const scrapes = await Promise.all(urls.map((url) => scrapeMetrics(url)));
    const total = (name: string, outcome: string) => scrapes.reduce((sum, scrape) => sum + (scrape.value(name, { outcome }) || 0), 0);
    expect(total('shopgraph_saga_completed_total', 'timed_out')).toBe(cancelled.length);
    expect(total('shopgraph_saga_duration_seconds_count', 'timed_out')).toBe(cancelled.length);
    expect(total('shopgraph_saga_completed_total', 'confirmed')).toBe(2); // the warm-up order and `confirmed`
    expect(total('shopgraph_saga_duration_seconds_count', 'confirmed')).toBe(2);
    expect(total('shopgraph_saga_duration_seconds_sum', 'timed_out')).toBeGreaterThanOrEqual((cancelled.length * SAGA_TIMEOUT_MS) / 1000);
  });

  it('leaves a late saga step after the timeout without effect', async () => {
    const token = await issuer.customer();
    checkout.carts.set(token, [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(5) }]);
    const id = await place(token, url0());
    await vi.waitFor(async () => expect(await statusOf(token, id)).toBe('CANCELLED'), { timeout: 20_000, interval: 200 });
    const late = [
      orderEvent('inventory.stock.reserved', { orderId: id, lines: [] }),
      orderEvent('payments.payment.succeeded', { orderId: id, paymentId: crypto.randomUUID(), amount: usd(5) }),
    ];
    await producer.send(...late);
    // Handled (the processed-message row commits with the handler's transaction), and without effect.
    await vi.waitFor(async () => {
      const [row] = await orm.em.fork().execute<{ n: number }[]>(`select count(*)::int as n from processed_message where event_id in (?, ?)`, late.map((e) => e.id));
      expect(row!.n).toBe(2);
    }, { timeout: 15_000, interval: 100 });
    expect((await history(token, id)).map((c) => c.status)).toEqual(['PENDING', 'CANCELLED']);
  });
});
