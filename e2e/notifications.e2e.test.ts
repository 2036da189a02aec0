import { graphql, uniqueAddress, waitForMail } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { createProduct, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Notifications end to end: a customer registers and orders through the router; the e-mails are
// read back from the mail catcher, the in-app list through the router.
let graph: RunningSupergraph;
let staff: string;

beforeAll(async () => {
  graph = await startSupergraph();
  staff = await staffToken(graph);
});

afterAll(async () => {
  await graph?.close();
});

const call = (name: string, variables: Record<string, unknown>, token?: string) => graphql(graph.routerUrl, operation(name), variables, token);
const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

describe('notifications', () => {
  it('welcomes a new customer, confirms their order with its lines and total, and counts both in the app', async () => {
    const email = uniqueAddress('customer');
    const registered = await call('Register', { input: { email, password: 'a-long-enough-password', name: 'Ada Lovelace' } });
    expect(registered.data!['register'].errors).toEqual([]);
    const token: string = registered.data!['register'].accessToken;

    const [welcome] = await waitForMail(email, 1, 30_000);
    expect(welcome!.subject).toBe('Welcome to Shopgraph, Ada Lovelace');

    const lamp = await createProduct(graph, staff, { sku: `E2E-LAMP-${crypto.randomUUID().slice(0, 8)}`, name: 'Brass Lamp', price: 2_450, stock: 20 });
    const added = await call('AddToCart', { input: { productId: lamp, quantity: 3 } }, token);
    expect(added.data!['addToCart'].errors).toEqual([]);
    const placed = await call('PlaceOrder', { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: ADDRESS, paymentMethod: 'pm_card_visa' } }, token);
    expect(placed.data!['placeOrder'].errors).toEqual([]);
    const orderId: string = placed.data!['placeOrder'].order.id;

    const mails = await waitForMail(email, 2, 30_000);
    const confirmation = mails.find((mail) => mail.subject === `Order ${orderId.slice(0, 8).toUpperCase()} confirmed`);
    expect(confirmation, mails.map((mail) => mail.subject).join(', ')).toBeDefined();
    expect(confirmation!.text).toContain('3 × Brass Lamp at $24.50: $73.50');
    expect(confirmation!.text).toContain('Total: $73.50');
    expect(confirmation!.html).toContain('<strong>$73.50</strong>');

    const listed = await until('both notifications in the app', async () => {
      const response = await call('MyNotifications', { first: 10 }, token);
      const connection = response.data?.['me']?.notifications;
      return connection?.totalCount === 2 && connection;
    });
    expect(listed.unreadCount).toBe(2);
    expect(listed.edges.map((edge: { node: { kind: string } }) => edge.node.kind)).toEqual(['ORDER_CONFIRMED', 'WELCOME']);
    const marked = await call('MarkNotificationsRead', { input: { ids: [listed.edges[1].node.id] } }, token);
    expect(marked.data!['markNotificationsRead']).toMatchObject({ unreadCount: 1, errors: [] });
  });
});
