import { graphql } from '@shopgraph/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, sql, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// A saga step that never comes: inventory is down, so the order would wait forever.
let graph: RunningSupergraph;

beforeAll(async () => {
  graph = await startSupergraph({ SAGA_TIMEOUT_MS: '3000', SAGA_SWEEP_INTERVAL_MS: '500' });
});

afterAll(async () => {
  await graph?.close();
});

it('cancels a saga whose participant stays silent, and compensates once the participant is back', async () => {
  const staff = await staffToken(graph);
  const token = await (await accountsSigner(graph)).customer();
  const call = (name: string, variables: Record<string, unknown>, as = token) => graphql(graph.routerUrl, operation(name), variables, as);
  const bike = await createProduct(graph, staff, { sku: 'E2E-BIKE', name: 'Bike', price: 80_000, stock: 4 });
  await call('AddToCart', { input: { productId: bike, quantity: 3 } });

  await graph.stop('inventory');
  const placed = await call('PlaceOrder', { input: { idempotencyKey: crypto.randomUUID(), paymentMethod: 'pm_card_visa', shippingAddress: { name: 'A', line1: '1 Road', city: 'Paris', postalCode: '75001', country: 'FR' } } });
  const orderId: string = placed.data!['placeOrder'].order.id;

  const cancelled = await until('the saga timeout', async () => {
    const order = (await call('Order', { id: orderId })).data?.['order'];
    return order?.status === 'CANCELLED' && order;
  });
  expect(cancelled.statusHistory.map((c: any) => [c.version, c.status, c.reason])).toEqual([
    [1, 'PENDING', null],
    [2, 'CANCELLED', 'saga timed out'],
  ]);
  await until('the payment intent to be cancelled', async () => cancelled.payment?.status === 'CANCELLED' || (await call('Order', { id: orderId })).data?.['order'].payment?.status === 'CANCELLED');
  expect(await sql(graph.databaseUrls['payments']!, 'select count(*)::int as n from test_provider_charge where idempotency_key = $1', [orderId])).toEqual([{ n: 0 }]);

  // Back up, inventory works through what it missed: it reserves for the placed order, then the
  // cancellation releases it again. No stock stays held for a dead order.
  await graph.restart('inventory');
  await until('the late reservation to be released', async () => {
    const rows = await sql(graph.databaseUrls['inventory']!, `select status from reservation where order_id = $1`, [orderId]);
    return rows.length > 0 && rows.every((r) => r.status === 'RELEASED');
  });
  expect(await sql(graph.databaseUrls['inventory']!, 'select on_hand, reserved from stock_item where product_id = $1', [bike])).toEqual([{ on_hand: 4, reserved: 0 }]);
  // The lines left the cart when the order was placed; the cancelled order put them back.
  await until('the lines back in the cart', async () => {
    const lines = (await call('Cart', {})).data!['cart'].lines;
    return lines.length === 1 && lines[0].product.id === bike && lines[0].quantity === 3;
  });
});
