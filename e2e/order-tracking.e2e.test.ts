import { connectWs, errorCodes, graphql } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder as placeOrderOf, staffToken, statuses, until, watchOrder, type OrderWatch } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Live order status end to end: clients on the router's WebSocket, orders feeding the subscription
// from its status-change events on a real Kafka, the checkout saga moving the orders.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;
let kettle: string;
const watches: OrderWatch[] = [];

beforeAll(async () => {
  graph = await startSupergraph();
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
  kettle = await createProduct(graph, staff, { sku: 'LIVE-KETTLE', name: 'Kettle', price: 3_999, stock: 1_000 });
});

afterEach(async () => {
  await Promise.all(watches.splice(0).map((w) => w.close()));
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);
const sub = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub as string;

/** A new customer's order of one kettle, placed through the router; its id. */
const placeOrder = (token: string, paymentMethod?: string) => placeOrderOf(graph.routerUrl, token, kettle, paymentMethod);

async function watch(token: string, orderId: string, options: { after?: number; operation?: string; url?: string } = {}): Promise<OrderWatch> {
  const w = await watchOrder(options.url ?? graph.routerUrl, token, orderId, options);
  watches.push(w);
  return w;
}

const orderStatus = async (orderId: string, token: string): Promise<string> => (await call('Order', { id: orderId }, token)).data?.['order']?.status;
const confirmed = (orderId: string, token: string) => until(`order ${orderId} confirmed`, async () => (await orderStatus(orderId, token)) === 'CONFIRMED');
const shipmentCreated = (orderId: string, token: string) => until('a shipment', async () => (await call('Order', { id: orderId }, token)).data?.['order']?.shipment);
async function ship(orderId: string): Promise<void> {
  expect((await call('MarkShipped', { input: { orderId } }, staff)).data?.['markShipped'].errors).toEqual([]);
}
async function deliver(orderId: string): Promise<void> {
  expect((await call('MarkDelivered', { input: { orderId } }, staff)).data?.['markDelivered'].errors).toEqual([]);
}
/** Nothing more arrives for a watch within `ms`. */
async function quiet(w: OrderWatch, ms = 1_000): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  expect(w.client.pending().filter((m) => m.id === 'order')).toEqual([]);
}

describe('orderStatusChanged through the router', () => {
  it('follows a paid order: PENDING → STOCK_RESERVED → CONFIRMED, then SHIPPED → DELIVERED live, then completes', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const w = await watch(token, orderId, { after: 0 });
    expect(statuses(await w.through(3))).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    await shipmentCreated(orderId, token);
    await ship(orderId);
    const shipped = await w.next();
    expect(shipped).toMatchObject({ version: 4, status: 'SHIPPED', reason: expect.stringMatching(/^Tracking number /) });
    await deliver(orderId);
    expect(await w.next()).toMatchObject({ version: 5, status: 'DELIVERED' });
    expect(await w.message()).toEqual({ id: 'order', type: 'complete' });
    expect(w.events.every((e) => !Number.isNaN(Date.parse(e['at'])))).toBe(true);
  });

  it('follows a declined order to PAYMENT_FAILED with the reason, then completes', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token, 'pm_card_chargeDeclined');
    const w = await watch(token, orderId, { after: 0 });
    const events = await w.through(3);
    expect(statuses(events)).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'PAYMENT_FAILED']]);
    expect(events[2]!.reason).toMatch(/declined/i);
    expect(await w.message()).toEqual({ id: 'order', type: 'complete' });
  });

  it('resumes with `after`: what came after it, then live; without `after`: the current status first', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    await confirmed(orderId, token);
    const resumed = await watch(token, orderId, { after: 1 });
    const current = await watch(token, orderId);
    expect(statuses(await resumed.through(3))).toEqual([[2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    expect(statuses([await current.next()])).toEqual([[3, 'CONFIRMED']]);
    await shipmentCreated(orderId, token);
    await ship(orderId);
    for (const w of [resumed, current]) expect(statuses([await w.next()])).toEqual([[4, 'SHIPPED']]);
    await quiet(resumed, 300);
  });

  it('refuses a stranger (and an unknown order) with FORBIDDEN, and the stranger never gets an event', async () => {
    const owner = await signer.customer();
    const orderId = await placeOrder(owner);
    const stranger = await signer.customer();
    const refusedWatches: OrderWatch[] = [];
    for (const id of [orderId, crypto.randomUUID()]) {
      const w = await watch(stranger, id, { after: 0 });
      const refused = await w.message();
      expect(refused.type).toBe('next');
      expect(refused.payload.data).toBeNull();
      expect(refused.payload.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
      expect(await w.message()).toEqual({ id: 'order', type: 'complete' });
      refusedWatches.push(w);
    }
    // Staff may follow anyone's order; the stranger, still connected, hears nothing of it.
    const asStaff = await watch(staff, orderId, { after: 0 });
    expect(statuses(await asStaff.through(3)).map(([v]) => v)).toEqual([1, 2, 3]);
    await shipmentCreated(orderId, owner);
    await ship(orderId);
    expect((await asStaff.next()).version).toBe(4);
    for (const w of refusedWatches) {
      expect(w.client.socket.readyState).toBe(WebSocket.OPEN);
      expect(w.client.pending()).toEqual([]);
    }
  });

  it('selects fields of four subgraphs on every event, each read as the order is at that change', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const w = await watch(token, orderId, { after: 0, operation: 'OrderTracking' });
    const events = await w.through(3);
    expect(statuses(events)).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    for (const event of events) {
      expect(event['order']).toMatchObject({ id: orderId, total: { amount: 3_999, currency: 'USD' }, lines: [{ product: { id: kettle, name: 'Kettle' }, quantity: 1 }] });
    }
    // Payments charged before orders recorded CONFIRMED.
    expect(events[2]!['order']).toMatchObject({ status: 'CONFIRMED', payment: { status: 'SUCCEEDED' } });
    await shipmentCreated(orderId, token);
    await ship(orderId);
    const shipped = await w.next();
    expect(shipped['order']).toMatchObject({ status: 'SHIPPED', payment: { status: 'SUCCEEDED' }, shipment: { status: 'SHIPPED', trackingNumber: expect.any(String) } });
    expect(shipped.reason).toBe(`Tracking number ${shipped['order'].shipment.trackingNumber}`);
  });
});

describe('orderStatusChanged: tokens', () => {
  it('closes the connection with 4401 at the token\'s exp; resuming with `after` on a fresh token misses nothing', async () => {
    const token = await signer.customer();
    const short = await signer.sign({ sub: sub(token) }, 4);
    const orderId = await placeOrder(token);
    const first = await watch(short, orderId, { after: 0 });
    await first.next();
    expect(await first.client.closed).toEqual({ code: 4401, reason: 'Token expired' });
    // A change while the client is away.
    await shipmentCreated(orderId, token);
    await ship(orderId);
    await until('SHIPPED', async () => (await orderStatus(orderId, token)) === 'SHIPPED');

    const last = first.events.at(-1)!.version;
    const resumed = await watch(await signer.sign({ sub: sub(token) }, 300), orderId, { after: last });
    await resumed.through(4);
    await deliver(orderId);
    await resumed.through(5);
    expect(await resumed.message()).toEqual({ id: 'order', type: 'complete' });
    expect([...first.events, ...resumed.events].map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps the subscription past the old exp after a refresh in a ping', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const w = await watch(await signer.sign({ sub: sub(token) }, 5), orderId, { after: 0 });
    const exp = (w.client.ack!.payload as { expiresAt: number }).expiresAt * 1000;
    await w.next();
    await w.client.refresh(await signer.sign({ sub: sub(token) }, 300));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp - Date.now()) + 1_500));
    expect(w.client.socket.readyState).toBe(WebSocket.OPEN);
    await w.through(3);
    // The router passed the refresh on to orders too: a change after the old exp still comes.
    await shipmentCreated(orderId, token);
    await ship(orderId);
    expect(statuses([await w.next()])).toEqual([[4, 'SHIPPED']]);
  });
});

describe('orderStatusChanged: hostile subscribe documents are refused as on HTTP', () => {
  const field = (selection: string) => `subscription($id: ID!) { orderStatusChanged(orderId: $id) { ${selection} } }`;
  const deep = (depth: number) => field(`${'order { statusHistory { '.repeat(depth)}version${' } }'.repeat(depth)}`);
  const cases: [string, string, string][] = [
    ['too deep', deep(8), 'GRAPHQL_VALIDATION_FAILED'],
    ['too many aliases', field(Array.from({ length: 40 }, (_, i) => `a${i}: version`).join(' ')), 'GRAPHQL_VALIDATION_FAILED'],
    ['too many tokens', field('version '.repeat(3_000)), 'GRAPHQL_PARSE_FAILED'],
    ['an unknown field', field('version secret'), 'GRAPHQL_VALIDATION_FAILED'],
    ['a syntax error', 'subscription { orderStatusChanged(orderId: "x") { version }', 'GRAPHQL_PARSE_FAILED'],
  ];

  it.each(cases)('%s', async (_name, document, code) => {
    const token = await signer.customer();
    const http = await graphql(graph.routerUrl, document, { id: crypto.randomUUID() }, token);
    expect(http.status).toBe(400);
    expect(errorCodes(http)).toContain(code);

    const client = await connectWs(graph.routerUrl, { authorization: `Bearer ${token}` });
    try {
      client.subscribe('bad', document, { id: crypto.randomUUID() });
      const refused = await client.takeFor('bad');
      expect(refused.type).toBe('error');
      expect(refused.payload.map((e: { extensions: { code: string } }) => e.extensions.code)).toContain(code);
      // The connection stays usable.
      const orderId = await placeOrder(token);
      client.subscribe('ok', operation('OrderStatusChanged'), { orderId, after: 0 });
      expect((await client.takeFor('ok', 30_000)).payload.data.orderStatusChanged.version).toBe(1);
    } finally {
      await client.close();
    }
  });
});
