import { graphql } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder as placeOrderOf, staffToken, statuses, until, watchOrder, type OrderWatch } from './support.ts';
import { startSupergraph, type ExtraInstance, type RunningSupergraph } from './supergraph.ts';

// Live order status scaled out: two routers, two orders replicas on one database and one set of
// topics, and a router that dies with live subscriptions.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;
let lamp: string;
/** Orders replica B, and router B routing orders to it (router A, the supergraph's own, routes to replica A). */
let ordersB: ExtraInstance;
let routerB: ExtraInstance;
const watches: OrderWatch[] = [];

beforeAll(async () => {
  graph = await startSupergraph();
  ordersB = await graph.startReplica('orders');
  routerB = await graph.startRouter({ subgraphUrls: { orders: ordersB.url } });
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
  lamp = await createProduct(graph, staff, { sku: 'LIVE-LAMP', name: 'Lamp', price: 2_500, stock: 1_000 });
});

afterEach(async () => {
  await Promise.all(watches.splice(0).map((w) => w.close()));
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string, url = graph.routerUrl) => graphql(url, operation(name), variables, token);

const placeOrder = (token: string) => placeOrderOf(graph.routerUrl, token, lamp);

async function watch(url: string, token: string, orderId: string, after?: number): Promise<OrderWatch> {
  const w = await watchOrder(url, token, orderId, after === undefined ? {} : { after });
  watches.push(w);
  return w;
}

const shipmentCreated = (orderId: string, token: string) => until('a shipment', async () => (await call('Order', { id: orderId }, token)).data?.['order']?.shipment);
const statusOf = async (orderId: string, token: string): Promise<string> => (await call('Order', { id: orderId }, token)).data?.['order']?.status;

/** Versions 1..5 of a delivered order, each once, in order. */
const DELIVERED_ORDER: [number, string][] = [[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED'], [4, 'SHIPPED'], [5, 'DELIVERED']];

describe('orderStatusChanged with two routers and two orders replicas', () => {
  it('a client on either router sees every change of its order exactly once, in order', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const viaA = await watch(graph.routerUrl, token, orderId, 0);
    const viaB = await watch(routerB.url, token, orderId, 0);
    const staffViaB = await watch(routerB.url, staff, orderId, 0);
    for (const w of [viaA, viaB, staffViaB]) await w.through(3);

    // Each step is made by whichever orders replica consumes it; the routers each talk to their own.
    await shipmentCreated(orderId, token);
    expect((await call('MarkShipped', { input: { orderId } }, staff, routerB.url)).data?.['markShipped'].errors).toEqual([]);
    for (const w of [viaA, viaB, staffViaB]) await w.through(4);
    // The last change has nothing after it that could reveal a gap: it reaches each replica's
    // subscribers only because every replica receives every change live (a consumer group each).
    expect((await call('MarkDelivered', { input: { orderId } }, staff)).data?.['markDelivered'].errors).toEqual([]);
    for (const w of [viaA, viaB, staffViaB]) {
      await w.through(5);
      expect(await w.message()).toEqual({ id: 'order', type: 'complete' });
      expect(statuses(w.events)).toEqual(DELIVERED_ORDER);
    }
  });

  it('many orders at once: each client gets exactly its order\'s changes, in order, on both routers', async () => {
    const customers = await Promise.all(Array.from({ length: 8 }, () => signer.customer()));
    const orders = await Promise.all(customers.map((token) => placeOrder(token)));
    const followers = await Promise.all(orders.flatMap((orderId, i) => [graph.routerUrl, routerB.url].map((url) => watch(url, customers[i]!, orderId, 0))));
    await Promise.all(followers.map((w) => w.through(3)));
    await Promise.all(orders.map((orderId, i) => shipmentCreated(orderId, customers[i]!)));
    await Promise.all(orders.map(async (orderId, i) => {
      const url = i % 2 ? routerB.url : graph.routerUrl;
      expect((await call('MarkShipped', { input: { orderId } }, staff, url)).data?.['markShipped'].errors).toEqual([]);
      expect((await call('MarkDelivered', { input: { orderId } }, staff, url)).data?.['markDelivered'].errors).toEqual([]);
    }));
    await Promise.all(followers.map(async (w) => {
      await w.through(5);
      expect(await w.message()).toEqual({ id: 'order', type: 'complete' });
      expect(statuses(w.events)).toEqual(DELIVERED_ORDER);
    }));
  });
});

describe('a router killed with live subscriptions', () => {
  it('loses nothing: its clients reconnect to another router with `after` and get what they missed', async () => {
    const doomed = await graph.spawnRouter({ subgraphUrls: { orders: ordersB.url } });
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const before = await watch(doomed.url, token, orderId, 0);
    await before.next();

    // Mid-saga: SIGKILL, no close frame, no goodbye to orders either.
    await doomed.kill();
    expect((await before.client.closed).code).toBe(1006);
    // The saga goes on while the client is away; so does shipping.
    await until('CONFIRMED', async () => (await statusOf(orderId, token)) === 'CONFIRMED');
    await shipmentCreated(orderId, token);
    expect((await call('MarkShipped', { input: { orderId } }, staff)).data?.['markShipped'].errors).toEqual([]);
    await until('SHIPPED', async () => (await statusOf(orderId, token)) === 'SHIPPED');

    const after = before.events.at(-1)!.version;
    const resumed = await watch(graph.routerUrl, token, orderId, after);
    await resumed.through(4);
    expect((await call('MarkDelivered', { input: { orderId } }, staff)).data?.['markDelivered'].errors).toEqual([]);
    await resumed.through(5);
    expect(await resumed.message()).toEqual({ id: 'order', type: 'complete' });
    expect(statuses([...before.events, ...resumed.events])).toEqual(DELIVERED_ORDER);
  });
});
