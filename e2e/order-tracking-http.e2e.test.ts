import { graphql, subscribeOver, type Live, type Result } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder as placeOrderOf, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Live order tracking over the router's HTTP transports, with the clients apps use: Apollo Client's
// multipart subscriptions and graphql-sse. (graphql-ws: order-tracking.e2e.test.ts.) The checkout
// saga moves real orders over real Kafka; the same guarantees hold on every transport.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;
let kettle: string;
const streams: Live[] = [];

beforeAll(async () => {
  graph = await startSupergraph();
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
  kettle = await createProduct(graph, staff, { sku: 'HTTP-KETTLE', name: 'Kettle', price: 3_999, stock: 1_000 });
});

afterEach(() => {
  for (const stream of streams.splice(0)) stream.stop();
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);

const placeOrder = (token: string) => placeOrderOf(graph.routerUrl, token, kettle);

function follow(transport: 'multipart' | 'sse', name: string, token: string, variables: Record<string, unknown>): Live {
  const stream = subscribeOver(transport, graph.routerUrl, operation(name), variables, token);
  streams.push(stream);
  return stream;
}

type Change = { version: number; status: string; order?: { payment: { status: string } | null; shipment: { trackingNumber: string } | null } };
const change = (result: Result): Change => {
  expect(result.errors).toBeUndefined();
  return (result.data as { orderStatusChanged: Change }).orderStatusChanged;
};
const versions = async (stream: Live, count: number) => {
  const seen: [number, string][] = [];
  for (let i = 0; i < count; i++) {
    const { version, status } = change(await stream.next(20_000));
    seen.push([version, status]);
  }
  return seen;
};

async function shipAndDeliver(orderId: string, token: string): Promise<void> {
  await until('a shipment', async () => (await call('Order', { id: orderId }, token)).data?.['order']?.shipment);
  expect((await call('MarkShipped', { input: { orderId } }, staff)).data?.['markShipped'].errors).toEqual([]);
}

describe.each(['multipart', 'sse'] as const)('orderStatusChanged over %s', (transport) => {
  it('follows a paid order from PENDING to DELIVERED, each change once and in order, then completes', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    const stream = follow(transport, 'OrderStatusChanged', token, { orderId, after: 0 });
    expect(await versions(stream, 3)).toEqual([[1, 'PENDING'], [2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    await shipAndDeliver(orderId, token);
    expect(await versions(stream, 1)).toEqual([[4, 'SHIPPED']]);
    expect((await call('MarkDelivered', { input: { orderId } }, staff)).data?.['markDelivered'].errors).toEqual([]);
    expect(await versions(stream, 1)).toEqual([[5, 'DELIVERED']]);
    expect(await stream.ended(10_000)).toEqual({ kind: 'complete' });
    expect(stream.untaken()).toEqual([]);
  });

  it('resumes with `after` with every federated field of the order: what came after it, then live', async () => {
    const token = await signer.customer();
    const orderId = await placeOrder(token);
    await until(`order ${orderId} confirmed`, async () => (await call('Order', { id: orderId }, token)).data?.['order']?.status === 'CONFIRMED');
    const stream = follow(transport, 'OrderTracking', token, { orderId, after: 1 });
    const resumed = [change(await stream.next(20_000)), change(await stream.next(20_000))];
    expect(resumed.map((c) => [c.version, c.status])).toEqual([[2, 'STOCK_RESERVED'], [3, 'CONFIRMED']]);
    // Payments' field of the order, fetched for the event with the subscriber's token.
    expect(resumed[1]!.order?.payment?.status).toBe('SUCCEEDED');
    await shipAndDeliver(orderId, token);
    const shipped = change(await stream.next(20_000));
    expect([shipped.version, shipped.status]).toEqual([4, 'SHIPPED']);
    expect(shipped.order?.shipment?.trackingNumber).toEqual(expect.any(String));
  });

  it('refuses a stranger with FORBIDDEN, and sends them nothing of the order', async () => {
    const orderId = await placeOrder(await signer.customer());
    const stranger = follow(transport, 'OrderStatusChanged', await signer.customer(), { orderId, after: 0 });
    const refused = await stranger.next(20_000);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.map((e) => e.extensions?.['code'])).toEqual(['FORBIDDEN']);
    expect(await stranger.ended(10_000)).toEqual({ kind: 'complete' });
  });
});
