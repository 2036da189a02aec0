import { repoDirs, startZipkin, type ZipkinHandle } from '@shopgraph/infra';
import { graphql } from '@shopgraph/testkit';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder, staffToken, until } from './support.ts';
import { STAFF, startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Every service traces into a real Zipkin (from Maven Central): one trace shows a whole checkout,
// from the router through each subgraph, the outbox and every Kafka hop of the saga.
let zipkin: ZipkinHandle;
let graph: RunningSupergraph;
const dataDir = join(repoDirs().data, 'test', `zipkin-${randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  zipkin = await startZipkin({ cacheDir: repoDirs().cache, dataDir });
  graph = await startSupergraph({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.spansUrl });
});

afterAll(async () => {
  await graph?.close();
  await zipkin?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: string;
  localEndpoint?: { serviceName: string };
  tags?: Record<string, string>;
}

const traces = async (query: Record<string, string>): Promise<ZipkinSpan[][]> => (await fetch(`${zipkin.url}/api/v2/traces?${new URLSearchParams({ limit: '100', lookback: '600000', ...query })}`)).json() as Promise<ZipkinSpan[][]>;

describe('tracing into Zipkin', () => {
  it('shows a checkout as one trace: the router, each subgraph, the outbox and the saga\'s Kafka hops, parent to child; no token or password', async () => {
    const staff = await staffToken(graph);
    const product = await createProduct(graph, staff, { sku: 'E2E-TRACED', name: 'Traced kettle', price: 1_999, stock: 5 });
    const token = await accountsSigner(graph).then((signer) => signer.customer());
    const orderId = await placeOrder(graph.routerUrl, token, product);
    await until('order confirmed', async () => (await graphql(graph.routerUrl, operation('Order'), { id: orderId }, token)).data?.['order']?.status === 'CONFIRMED');

    // Each service exports its spans in batches of its own: the trace is whole once every hop checked below is in it.
    const expected = ['router', 'orders', 'cart', 'catalog', 'inventory', 'payments', 'shipping'];
    let seen = new Set<string | undefined>();
    const checkout = await until('the checkout trace, through to shipping', async () => {
      const found = (await traces({ serviceName: 'router', spanName: 'mutation placeorder' }))[0];
      seen = new Set(found?.map((span) => span.localEndpoint?.serviceName));
      if (!found) return false;
      const has = (service: string, name: string): boolean => found.some((span) => span.localEndpoint?.serviceName === service && span.name === name);
      const whole = expected.every((service) => seen.has(service))
        && has('inventory', 'consume orders.order.placed') && has('payments', 'consume inventory.stock.reserved') && has('orders', 'consume payments.payment.succeeded')
        && found.some((span) => span.localEndpoint?.serviceName === 'shipping' && span.name.startsWith('consume'))
        && found.filter((span) => span.name === 'deliver orders.order.status-changed').length >= 3;
      return whole && found;
    }, 30_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; services in the trace: ${[...seen].join(', ')}`);
    });
    const services = new Set(checkout.map((span) => span.localEndpoint?.serviceName));
    for (const service of expected) expect(services, service).toContain(service);

    const byId = new Map(checkout.map((span) => [span.id, span]));
    const consumed = checkout.filter((span) => span.kind === 'CONSUMER');
    expect(consumed.map((span) => span.name)).toEqual(expect.arrayContaining(['consume orders.order.placed', 'consume inventory.stock.reserved', 'consume payments.payment.succeeded']));
    // Each hop is a child of the span that recorded its event: orders' handling of the payment hangs
    // under payments' handling of the reservation, under inventory's of the placement, under orders'
    // placeOrder, under the router's fetch, under the client's operation.
    const pathToRoot = (span: ZipkinSpan): string[] => (span.parentId && byId.has(span.parentId) ? [...pathToRoot(byId.get(span.parentId)!), `${span.localEndpoint?.serviceName}:${span.name}`] : [`${span.localEndpoint?.serviceName}:${span.name}`]);
    const payment = consumed.find((span) => span.localEndpoint?.serviceName === 'orders' && span.name === 'consume payments.payment.succeeded')!;
    // (Zipkin keeps span names in lower case.)
    expect(pathToRoot(payment)).toEqual([
      'router:mutation placeorder',
      'router:fetch orders',
      'orders:mutation placeorder__orders__0',
      'inventory:consume orders.order.placed',
      'payments:consume inventory.stock.reserved',
      'orders:consume payments.payment.succeeded',
    ]);
    expect(checkout.some((span) => span.localEndpoint?.serviceName === 'orders' && /^insert into "?outbox_message\b/.test(span.tags?.['db.query.text'] ?? ''))).toBe(true);
    // Each status change reaches the live subscriptions of every orders replica, in the same trace.
    expect(checkout.filter((span) => span.name === 'deliver orders.order.status-changed').length).toBeGreaterThanOrEqual(3);

    // A login (a password in its variables) is traced like any operation, and nothing secret is in any span.
    await graphql(graph.routerUrl, operation('Login'), { input: { email: STAFF.email, password: STAFF.password } });
    await until('the login traced', async () => (await traces({ serviceName: 'accounts' })).some((t) => t.some((span) => /login/i.test(span.name))));
    const everything = JSON.stringify(await Promise.all(['router', 'accounts', 'orders', 'payments'].map((serviceName) => traces({ serviceName }))));
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(STAFF.password);
    expect(everything).not.toMatch(/Bearer /);
  });
});
