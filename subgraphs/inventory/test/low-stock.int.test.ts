import type { EventData } from '@shopgraph/events';
import { consumerOutcomes, eventProducer, eventually, graphql, type EventProducer, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInventory } from './support.ts';

// inventory.stock.low: recorded through the outbox once per crossing of a product's threshold.

let service: ServiceUnderTest;
let staff: string;
let producer: EventProducer;
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startInventory({ onMessage: handled.record });
  staff = await service.issuer.staff();
  producer = eventProducer();
});
afterAll(async () => {
  await producer?.close();
  await service?.close();
});

async function call(field: string, input: Record<string, unknown>) {
  const inputType = `${field[0]!.toUpperCase()}${field.slice(1)}Input`;
  const response = await graphql(service.url, `mutation($input: ${inputType}!) { ${field}(input: $input) { product { availableQuantity } errors { code } } }`, { input }, staff);
  expect(response.errors).toBeUndefined();
  return response.data![field] as { product: { availableQuantity: number } | null; errors: { code: string }[] };
}

/** The low-stock events recorded for a product, oldest first, once the relay has published them all. */
const lowStockEvents = (productId: string) =>
  eventually(async () => {
    const rows = await service.sql<{ data: EventData<'inventory.stock.low'>; published: boolean }>(
      `select envelope->'data' as data, published_at is not null as published from outbox_message where type = 'inventory.stock.low' and key = ? order by seq`,
      [productId],
    );
    return rows.every((row) => row.published) && rows.map((row) => row.data);
  }, 'published low-stock events');

describe('inventory.stock.low', () => {
  it('is recorded once when staff changes take a product under its threshold, and again only after it was back', async () => {
    const productId = crypto.randomUUID();
    await call('setStock', { productId, quantity: 10 });
    await call('adjustStock', { productId, delta: -5 }); // 5: at the threshold, not under it
    expect(await lowStockEvents(productId)).toEqual([]);
    await call('adjustStock', { productId, delta: -1 }); // 4: crossed
    await call('adjustStock', { productId, delta: -1 }); // 3: still under
    await call('setStock', { productId, quantity: 2 });
    expect(await lowStockEvents(productId)).toEqual([{ productId, availableQuantity: 4, threshold: 5 }]);

    await call('adjustStock', { productId, delta: 10 }); // 12: back
    await call('setStock', { productId, quantity: 0 }); // crossed again
    expect(await lowStockEvents(productId)).toEqual([
      { productId, availableQuantity: 4, threshold: 5 },
      { productId, availableQuantity: 0, threshold: 5 },
    ]);
  });

  it('is not recorded for a product first stocked under its threshold', async () => {
    const productId = crypto.randomUUID();
    await call('setStock', { productId, quantity: 2 });
    expect(await lowStockEvents(productId)).toEqual([]);
  });

  it('is recorded when a reservation takes a product under its threshold, not when the order is rejected', async () => {
    const [plenty, scarce] = [crypto.randomUUID(), crypto.randomUUID()];
    await call('setStock', { productId: plenty, quantity: 6 });
    await call('setStock', { productId: scarce, quantity: 1 });
    const address = { name: 'A', line1: '1 Main St', line2: null, city: 'X', postalCode: '1', country: 'GB' };
    const place = (lines: [string, number][]) => {
      const orderId = crypto.randomUUID();
      const orderLines = lines.map(([productId, quantity]) => ({ productId, quantity, unitPrice: { amount: 100, currency: 'USD' } }));
      return producer.publish('orders.order.placed', orderId, { orderId, userId: crypto.randomUUID(), lines: orderLines, total: { amount: 100, currency: 'USD' }, paymentMethod: 'pm_card_visa', shippingAddress: address });
    };
    // Rejected (scarce is short): plenty's units are not taken, so no alert.
    await handled.handled(await place([[plenty, 2], [scarce, 2]]));
    expect(await lowStockEvents(plenty)).toEqual([]);
    await handled.handled(await place([[plenty, 2]]));
    expect(await lowStockEvents(plenty)).toEqual([{ productId: plenty, availableQuantity: 4, threshold: 5 }]);
    await handled.handled(await place([[plenty, 1]]));
    expect(await lowStockEvents(plenty)).toHaveLength(1);
  });

  it('follows a threshold staff set per product; 0 never alerts', async () => {
    const [watched, unwatched] = [crypto.randomUUID(), crypto.randomUUID()];
    await call('setStock', { productId: watched, quantity: 15 });
    const set = await graphql(service.url, 'mutation($input: SetLowStockThresholdInput!) { setLowStockThreshold(input: $input) { threshold product { availableQuantity } errors { code } } }', { input: { productId: watched, threshold: 20 } }, staff);
    expect(set.data!['setLowStockThreshold']).toEqual({ threshold: 20, product: { availableQuantity: 15 }, errors: [] });
    expect(await lowStockEvents(watched)).toEqual([]); // setting it alerts nobody
    await call('adjustStock', { productId: watched, delta: 10 });
    await call('adjustStock', { productId: watched, delta: -6 });
    expect(await lowStockEvents(watched)).toEqual([{ productId: watched, availableQuantity: 19, threshold: 20 }]);

    await call('setStock', { productId: unwatched, quantity: 10 });
    await graphql(service.url, 'mutation($input: SetLowStockThresholdInput!) { setLowStockThreshold(input: $input) { errors { code } } }', { input: { productId: unwatched, threshold: 0 } }, staff);
    await call('setStock', { productId: unwatched, quantity: 0 });
    expect(await lowStockEvents(unwatched)).toEqual([]);

    const invalid = await graphql(service.url, 'mutation($input: SetLowStockThresholdInput!) { setLowStockThreshold(input: $input) { errors { code } } }', { input: { productId: watched, threshold: -1 } }, staff);
    expect(invalid.data!['setLowStockThreshold'].errors).toEqual([{ code: 'INVALID_THRESHOLD' }]);
  });
});
