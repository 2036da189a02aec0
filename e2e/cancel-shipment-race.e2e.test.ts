import { graphql, observe, type EventObserver } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder, sql, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// cancelOrder and markShipped for one confirmed order, one after the other or at once: shipping
// decides whether the goods left, and orders, payments, inventory and shipping agree on it.
let graph: RunningSupergraph;
let staff: string;
let signer: Awaited<ReturnType<typeof accountsSigner>>;
let ordersTopic: EventObserver;

beforeAll(async () => {
  graph = await startSupergraph();
  staff = await staffToken(graph);
  signer = await accountsSigner(graph);
  ordersTopic = await observe('orders.order.v1');
});

afterAll(async () => {
  await ordersTopic?.close();
  await graph?.close();
});

const STOCK = 5;
const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);
const db = (name: string, text: string, params: unknown[]) => sql(graph.databaseUrls[name]!, text, params);

interface ConfirmedOrder {
  orderId: string;
  productId: string;
  token: string;
}

/** A new customer's order of one unit of a product of its own (STOCK on hand), confirmed, its shipment waiting. */
async function confirmedOrder(): Promise<ConfirmedOrder> {
  const productId = await createProduct(graph, staff, { sku: `E2E-RACE-${crypto.randomUUID()}`, name: 'Bike', price: 50_000, stock: STOCK });
  const token = await signer.customer();
  const orderId = await placeOrder(graph.routerUrl, token, productId);
  await until(`order ${orderId} confirmed with a shipment`, async () => (await call('Order', { id: orderId }, token)).data?.['order']?.shipment?.status === 'PENDING');
  return { orderId, productId, token };
}

const cancel = async ({ orderId, token }: ConfirmedOrder) => (await call('CancelOrder', { input: { orderId } }, token)).data!['cancelOrder'];
const markShipped = async ({ orderId }: ConfirmedOrder) => (await call('MarkShipped', { input: { orderId } }, staff)).data!['markShipped'];
const orderOf = async ({ orderId, token }: ConfirmedOrder) => (await call('Order', { id: orderId }, token)).data!['order'];
const stockOf = async ({ productId }: ConfirmedOrder) => (await db('inventory', 'select on_hand, reserved from stock_item where product_id = $1', [productId]))[0];
const reservationsOf = async ({ orderId }: ConfirmedOrder) => (await db('inventory', 'select status from reservation where order_id = $1', [orderId])).map((r) => r.status);
const chargesOf = ({ orderId }: ConfirmedOrder) =>
  db('payments', `select kind, outcome from test_provider_charge where idempotency_key in ($1::text, 'refund:' || $1::text) order by kind`, [orderId]);

/** The cancellation won: shipment stopped, payment refunded, the unit back on the shelf, the order CANCELLED. */
async function expectCancelled(order: ConfirmedOrder): Promise<void> {
  const settled = await until('the refund', async () => {
    const o = await orderOf(order);
    return o.payment.status === 'REFUNDED' && o;
  });
  expect(settled.status).toBe('CANCELLED');
  expect(settled.statusHistory.map((c: any) => c.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'CANCELLED']);
  expect(settled.shipment.events.map((e: any) => e.status)).toEqual(['PENDING', 'CANCELLED']);
  await until('the restock', async () => (await stockOf(order))?.['on_hand'] === STOCK);
  expect(await stockOf(order)).toEqual({ on_hand: STOCK, reserved: 0 });
  expect(await reservationsOf(order)).toEqual(['RELEASED']);
  expect(await chargesOf(order)).toEqual([{ kind: 'charge', outcome: 'succeeded' }, { kind: 'refund', outcome: 'succeeded' }]);
}

/**
 * The shipment won: the goods left, the order is SHIPPED (after a CANCELLED that came too late,
 * if orders had accepted the cancellation), and nobody compensated: once every participant has
 * handled the cancellation, the payment is still captured and the unit still sold.
 */
async function expectShipped(order: ConfirmedOrder, cancellationAccepted: boolean): Promise<void> {
  const settled = await until('the order SHIPPED', async () => {
    const o = await orderOf(order);
    return o.status === 'SHIPPED' && o;
  });
  expect(settled.shipment.events.map((e: any) => e.status)).toEqual(['PENDING', 'SHIPPED']);
  const history = settled.statusHistory.map((c: any) => [c.status, c.reason]);
  if (cancellationAccepted) {
    expect(history).toEqual([
      ['PENDING', null],
      ['STOCK_RESERVED', null],
      ['CONFIRMED', null],
      ['CANCELLED', 'cancelled by the customer'],
      ['SHIPPED', expect.stringMatching(/^Not cancelled: the order had already shipped\. Tracking number SG/)],
    ]);
    const [cancelled] = await ordersTopic.waitFor((r) => r.envelope.type === 'orders.order.cancelled' && (r.envelope.data as { orderId: string }).orderId === order.orderId);
    for (const service of ['payments', 'inventory', 'shipping']) {
      await until(`${service} to handle the cancellation`, async () => (await db(service, 'select 1 from processed_message where consumer = $1 and event_id = $2', [`${service}.saga`, cancelled!.envelope.id])).length > 0);
    }
  } else {
    expect(history.map(([status]: [string]) => status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'SHIPPED']);
  }
  expect((await orderOf(order)).payment.status).toBe('SUCCEEDED');
  expect(await chargesOf(order)).toEqual([{ kind: 'charge', outcome: 'succeeded' }]);
  expect(await stockOf(order)).toEqual({ on_hand: STOCK - 1, reserved: 0 });
  expect(await reservationsOf(order)).toEqual(['COMMITTED']);
}

const INVALID_TRANSITION = { code: 'INVALID_TRANSITION', message: expect.stringMatching(/CANCELLED/), field: ['input', 'orderId'] };

describe('a cancellation racing the shipment of a confirmed order', () => {
  it('cancelled first: the shipment is stopped, markShipped answers INVALID_TRANSITION, refund and restock follow', async () => {
    const order = await confirmedOrder();
    expect(await cancel(order)).toMatchObject({ errors: [], order: { status: 'CANCELLED' } });
    await until('shipping to stop the shipment', async () => (await orderOf(order)).shipment.status === 'CANCELLED');
    expect(await markShipped(order)).toEqual({ shipment: null, errors: [INVALID_TRANSITION] });
    await expectCancelled(order);
  });

  it('shipped first: the cancellation is refused or voided, and nothing is compensated', async () => {
    const order = await confirmedOrder();
    expect((await markShipped(order)).errors).toEqual([]);
    // At once, before orders has seen the shipment leave (when it has, the order is no longer cancellable).
    const cancelled = await cancel(order);
    expect(cancelled.errors.map((e: { code: string }) => e.code)).toEqual(cancelled.order ? [] : ['ORDER_NOT_CANCELLABLE']);
    await expectShipped(order, cancelled.errors.length === 0);
  });

  it('both at once: every order ends in one of the two outcomes, the same in all four services', async () => {
    const orders = await Promise.all(Array.from({ length: 4 }, () => confirmedOrder()));
    await Promise.all(
      orders.map(async (order) => {
        const [cancelled, marked] = await Promise.all([cancel(order), markShipped(order)]);
        if (marked.errors.length) {
          expect(marked).toEqual({ shipment: null, errors: [INVALID_TRANSITION] });
          expect(cancelled.errors).toEqual([]);
          await expectCancelled(order);
        } else {
          expect(marked.shipment.status).toBe('SHIPPED');
          await expectShipped(order, cancelled.errors.length === 0);
        }
      }),
    );
  });
});
