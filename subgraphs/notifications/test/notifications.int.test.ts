import type { EventData } from '@shopgraph/events';
import {
  consumerOutcomes, errorCodes, eventProducer, eventually, graphql, mailEnv, mailTo, newEvent, uniqueAddress, waitForMail,
  type EventProducer, type ServiceUnderTest,
} from '@shopgraph/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTIFICATIONS, startNotifications, type NotificationNode } from './support.ts';

// Real Kafka, Postgres and SMTP (the mail catcher): events in, e-mails read back from the catcher.

let service: ServiceUnderTest;
let producer: EventProducer;
const handled = consumerOutcomes();
const queries: string[] = [];
const STAFF_EMAIL = uniqueAddress('staff');

beforeAll(async () => {
  service = await startNotifications(
    { onMessage: handled.record, onQuery: (sql) => void queries.push(sql) },
    { env: { ...mailEnv(), STAFF_EMAIL } },
  );
  producer = eventProducer();
});

afterAll(async () => {
  await producer?.close();
  await service?.close();
});

/** Registers a user (as accounts would announce it); resolves once the welcome is delivered. */
async function registered(name = 'Ada Lovelace', email = uniqueAddress()): Promise<{ userId: string; email: string; token: string }> {
  const userId = crypto.randomUUID();
  const event = await producer.publish('account.user.registered', userId, { userId, email, name });
  await handled.handled(event);
  return { userId, email, token: await service.issuer.customer(userId) };
}

async function notificationsOf(token: string, userId: string, first = 20): Promise<{ nodes: NotificationNode[]; unreadCount: number; totalCount: number }> {
  const response = await graphql(service.url, NOTIFICATIONS, { representations: [{ __typename: 'User', id: userId }], first }, token);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  const connection = response.data!['_entities'][0].notifications;
  return { nodes: connection.edges.map((edge: { node: NotificationNode }) => edge.node), unreadCount: connection.unreadCount, totalCount: connection.totalCount };
}

const product = (name: string, amount: number): EventData<'catalog.product.changed'> => ({
  productId: crypto.randomUUID(), sku: `SKU-${crypto.randomUUID().slice(0, 8)}`, name, description: '', price: { amount, currency: 'USD' }, categoryId: null,
});

/** An order of the user's, placed (as orders would announce it) with the products' names known. */
async function placedOrder(userId: string, lines: [EventData<'catalog.product.changed'>, number][]) {
  for (const [p] of lines) await handled.handled(await producer.publish('catalog.product.changed', p.productId, p));
  const orderId = crypto.randomUUID();
  const orderLines = lines.map(([p, quantity]) => ({ productId: p.productId, quantity, unitPrice: p.price }));
  const total = { amount: orderLines.reduce((sum, line) => sum + line.quantity * line.unitPrice.amount, 0), currency: 'USD' };
  const address = { name: 'Ada', line1: '1 Main St', line2: null, city: 'London', postalCode: 'N1', country: 'GB' };
  await handled.handled(await producer.publish('orders.order.placed', orderId, { orderId, userId, lines: orderLines, total, paymentMethod: 'pm_card_visa', shippingAddress: address }));
  let version = 1;
  const status = (s: EventData<'orders.order.status-changed'>['status'], reason: string | null = null) =>
    newEvent('orders.order.status-changed', orderId, { orderId, userId, version: ++version, status: s, reason, at: new Date().toISOString() });
  return { orderId, status };
}

describe('e-mails from events', () => {
  it('welcomes a registered user with one e-mail, and lists it in the app', async () => {
    const user = await registered('Grace Hopper');
    const [mail, ...more] = await waitForMail(user.email);
    expect(more).toEqual([]);
    expect(mail!.subject).toBe('Welcome to Shopgraph, Grace Hopper');
    expect(mail!.text).toContain(`Hi Grace Hopper,`);
    expect(mail!.html).toContain(`<strong>${user.email}</strong>`);
    expect(mail!.from[0]!.address).toBe('no-reply@shopgraph.dev');
    expect(mail!.messageId).toMatch(/^<[0-9a-f-]{36}@shopgraph\.dev>$/);

    const listed = await eventually(async () => {
      const { nodes } = await notificationsOf(user.token, user.userId);
      return nodes[0]?.delivery?.status === 'SENT' && nodes;
    }, 'the welcome marked SENT');
    expect(listed).toEqual([
      expect.objectContaining({ kind: 'WELCOME', subject: mail!.subject, body: mail!.text, read: false, readAt: null, channels: ['IN_APP', 'EMAIL'], delivery: expect.objectContaining({ status: 'SENT', attempts: 1 }) }),
    ]);
    // The Message-ID is the notification's own id, so a resend would be recognisable.
    expect(mail!.messageId).toBe(`<${listed[0]!.id}@shopgraph.dev>`);
  });

  it('confirms an order with its lines and total as money', async () => {
    const user = await registered('Ada Lovelace');
    const kettle = product('Rugged Kettle', 3_999);
    const mug = product('Eco Mug', 1_250);
    const order = await placedOrder(user.userId, [[kettle, 2], [mug, 1]]);
    await producer.send(order.status('STOCK_RESERVED'), order.status('CONFIRMED'));

    const mails = await waitForMail(user.email, 2);
    const confirmation = mails.find((mail) => mail.subject.startsWith('Order'))!;
    expect(confirmation.subject).toBe(`Order ${order.orderId.slice(0, 8).toUpperCase()} confirmed`);
    expect(confirmation.text).toContain('2 × Rugged Kettle at $39.99: $79.98');
    expect(confirmation.text).toContain('1 × Eco Mug at $12.50: $12.50');
    expect(confirmation.text).toContain('Total: $92.48');
    expect(confirmation.html).toContain('<td>Rugged Kettle</td><td align="right">2</td><td align="right">$39.99</td><td align="right">$79.98</td>');
    expect(confirmation.html).toContain('<strong>$92.48</strong>');
    // STOCK_RESERVED is nobody's business: the welcome and the confirmation only.
    await sleep(300);
    expect(await mailTo(user.email)).toHaveLength(2);
  });

  it('tells of a failed payment, a cancellation with its reason, the shipment with its tracking number and the delivery', async () => {
    const user = await registered('Alan Turing');
    const paid = await placedOrder(user.userId, [[product('Lamp', 2_000), 1]]);
    const declined = await placedOrder(user.userId, [[product('Tent', 9_900), 1]]);
    const cancelled = await placedOrder(user.userId, [[product('Watch', 5_000), 1]]);
    await producer.send(declined.status('PAYMENT_FAILED', 'Your card was declined (card_declined)'));
    await producer.send(newEvent('orders.order.cancelled', cancelled.orderId, { orderId: cancelled.orderId, userId: user.userId, reason: 'Changed my mind', previousStatus: 'PENDING' }));
    const shipmentId = crypto.randomUUID();
    const at = new Date().toISOString();
    await producer.send(
      newEvent('shipping.shipment.shipped', shipmentId, { orderId: paid.orderId, shipmentId, trackingNumber: 'SG4K7Q2M9X1A', at }),
      newEvent('shipping.shipment.delivered', shipmentId, { orderId: paid.orderId, shipmentId, trackingNumber: 'SG4K7Q2M9X1A', at }),
    );

    const mails = await waitForMail(user.email, 5);
    const bySubject = (start: string) => mails.find((mail) => mail.subject.startsWith(start) || mail.subject.includes(start));
    const number = (orderId: string) => orderId.slice(0, 8).toUpperCase();
    expect(bySubject(`Payment for order ${number(declined.orderId)} failed`)!.text).toContain('($99.00): Your card was declined (card_declined).');
    expect(bySubject(`Order ${number(cancelled.orderId)} cancelled`)!.text).toContain('was cancelled: Changed my mind.');
    expect(bySubject(`Order ${number(paid.orderId)} is on its way`)!.text).toContain('Tracking number: SG4K7Q2M9X1A');
    expect(bySubject(`Order ${number(paid.orderId)} delivered`)).toBeDefined();
  });

  it('tells of an order held for a payment review, and of its rejection, without the rules or staff\'s reason', async () => {
    const user = await registered('Joan Clarke');
    const held = await placedOrder(user.userId, [[product('Bike', 90_000), 1]]);
    await producer.send(held.status('STOCK_RESERVED'), held.status('UNDER_REVIEW', 'Held for a payment review'), held.status('REJECTED', 'Rejected after a payment review'));
    const mails = await waitForMail(user.email, 3);
    const number = held.orderId.slice(0, 8).toUpperCase();
    expect(mails.find((mail) => mail.subject === `Order ${number} is being reviewed`)!.text).toContain('($900.00) is held for a payment review before we charge anything');
    expect(mails.find((mail) => mail.subject === `Order ${number} was not accepted`)!.text).toContain('Nothing was charged');
  });

  it('waits for shipping to stop a confirmed order\'s shipment before telling of its cancellation', async () => {
    const user = await registered();
    const order = await placedOrder(user.userId, [[product('Chair', 4_500), 1]]);
    const cancellation = newEvent('orders.order.cancelled', order.orderId, { orderId: order.orderId, userId: user.userId, reason: 'Too late?', previousStatus: 'CONFIRMED' });
    await producer.send(cancellation);
    expect((await handled.handled(cancellation)).map((o) => o.result)).toEqual(['ignored']);
    const shipmentId = crypto.randomUUID();
    await producer.send(newEvent('shipping.shipment.cancelled', shipmentId, { orderId: order.orderId, shipmentId, trackingNumber: 'SG0000000000', reason: 'Too late?', at: new Date().toISOString() }));
    const mails = await waitForMail(user.email, 2);
    expect(mails.filter((mail) => mail.subject.endsWith('cancelled'))).toHaveLength(1);
  });

  it('sends one e-mail for an event delivered twice', async () => {
    const userId = crypto.randomUUID();
    const email = uniqueAddress();
    const event = newEvent('account.user.registered', userId, { userId, email, name: 'Twice' });
    await producer.send(event, event);
    expect((await handled.handled(event, 2)).map((o) => o.result)).toEqual(['processed', 'duplicate']);
    await producer.send(event);
    await handled.handled(event, 3);
    await waitForMail(email);
    await sleep(500);
    expect(await mailTo(email)).toHaveLength(1);
    expect(await service.sql('select count(*)::int as n from notification where user_id = ?', [userId])).toEqual([{ n: 1 }]);
  });

  it('escapes HTML and script a user typed in the e-mail\'s HTML, and keeps a subject one line', async () => {
    const user = await registered('<script>alert("x")</script>\r\nBcc: victim@mail.test <b>Bold</b>');
    const [mail] = await waitForMail(user.email);
    expect(mail!.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(mail!.html).not.toMatch(/<script|<b>Bold/);
    expect(mail!.subject).toBe('Welcome to Shopgraph, <script>alert("x")</script> Bcc: victim@mail.test <b>Bold</b>');
    expect(mail!.to.map((to) => to.address)).toEqual([user.email]);
    expect(await mailTo('victim@mail.test')).toEqual([]);
  });

  it('alerts staff of low stock, in the app of the staff account with that address too', async () => {
    const staff = await registered('Store Staff', STAFF_EMAIL);
    const kettle = product('Rugged Kettle', 3_999);
    await handled.handled(await producer.publish('catalog.product.changed', kettle.productId, kettle));
    await producer.publish('inventory.stock.low', kettle.productId, { productId: kettle.productId, availableQuantity: 2, threshold: 5 });
    const mails = await waitForMail(STAFF_EMAIL, 2);
    const alert = mails.find((mail) => mail.subject.startsWith('Low stock'))!;
    expect(alert.subject).toBe('Low stock: Rugged Kettle (2 left)');
    expect(alert.text).toBe(`Rugged Kettle (SKU ${kettle.sku}) is down to 2 available, under its threshold of 5.\n`);
    const { nodes } = await eventually(async () => {
      const list = await notificationsOf(staff.token, staff.userId);
      return list.nodes.some((node) => node.kind === 'LOW_STOCK') && list;
    }, 'the alert in the staff account\'s list');
    expect(nodes.map((node) => node.kind)).toEqual(['LOW_STOCK', 'WELCOME']);
  });
});

describe('preferences', () => {
  const PREFERENCES = 'query { notificationPreferences { kind email } }';
  const UPDATE = 'mutation($input: UpdateNotificationPreferencesInput!) { updateNotificationPreferences(input: $input) { preferences { kind email } errors { code } } }';

  it('sends no e-mail of a kind turned off, and still lists the notification in the app', async () => {
    const user = await registered('Opted Out');
    await waitForMail(user.email);
    expect((await graphql(service.url, PREFERENCES, {}, user.token)).data!['notificationPreferences']).toContainEqual({ kind: 'ORDER_CONFIRMED', email: true });
    const updated = await graphql(service.url, UPDATE, { input: { kind: 'ORDER_CONFIRMED', email: false } }, user.token);
    expect(updated.data!['updateNotificationPreferences'].errors).toEqual([]);
    expect(updated.data!['updateNotificationPreferences'].preferences).toContainEqual({ kind: 'ORDER_CONFIRMED', email: false });

    const order = await placedOrder(user.userId, [[product('Notebook', 500), 3]]);
    await producer.send(order.status('CONFIRMED'));
    const { nodes } = await eventually(async () => {
      const list = await notificationsOf(user.token, user.userId);
      return list.nodes[0]?.kind === 'ORDER_CONFIRMED' && list.nodes[0].delivery === null && list;
    }, 'the confirmation listed, without e-mail');
    expect(nodes[0]).toMatchObject({ kind: 'ORDER_CONFIRMED', channels: ['IN_APP'], delivery: null });
    expect(nodes[0]!.body).toContain('3 × Notebook at $5.00: $15.00');
    expect((await mailTo(user.email)).map((mail) => mail.subject)).toEqual(['Welcome to Shopgraph, Opted Out']);
  });

  it('needs a signed-in caller', async () => {
    expect(errorCodes(await graphql(service.url, PREFERENCES))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('the in-app list', () => {
  const MARK = 'mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { notifications { id read readAt } unreadCount errors { code } } }';

  it('pages newest first, counts the unread, and marks only the caller\'s own read', async () => {
    const user = await registered('Reader');
    for (let i = 0; i < 3; i++) await producer.send((await placedOrder(user.userId, [[product(`Thing ${i}`, 100), 1]])).status('CONFIRMED'));
    const all = await eventually(async () => {
      const list = await notificationsOf(user.token, user.userId);
      return list.totalCount === 4 && list.nodes.length === 4 && list;
    }, 'four notifications');
    expect(all.unreadCount).toBe(4);
    expect(all.nodes.map((node) => node.kind)).toEqual(['ORDER_CONFIRMED', 'ORDER_CONFIRMED', 'ORDER_CONFIRMED', 'WELCOME']);

    const first = await graphql(service.url, NOTIFICATIONS, { representations: [{ __typename: 'User', id: user.userId }], first: 2 }, user.token);
    const page1 = first.data!['_entities'][0].notifications;
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await graphql(service.url, NOTIFICATIONS, { representations: [{ __typename: 'User', id: user.userId }], first: 2, after: page1.pageInfo.endCursor }, user.token);
    const page2 = second.data!['_entities'][0].notifications;
    expect([...page1.edges, ...page2.edges].map((edge: { node: NotificationNode }) => edge.node.id)).toEqual(all.nodes.map((node) => node.id));
    expect(page2.pageInfo.hasNextPage).toBe(false);

    const other = await registered('Someone Else');
    const theirs = await eventually(async () => (await notificationsOf(other.token, other.userId)).nodes[0], 'the other user\'s welcome');
    const marked = await graphql(service.url, MARK, { input: { ids: [all.nodes[0]!.id, all.nodes[3]!.id, theirs.id, 'not-an-id'] } }, user.token);
    expect(marked.data!['markNotificationsRead']).toMatchObject({ unreadCount: 2, errors: [] });
    expect(marked.data!['markNotificationsRead'].notifications.map((n: { id: string; read: boolean }) => [n.id, n.read])).toEqual([[all.nodes[0]!.id, true], [all.nodes[3]!.id, true]]);
    expect((await notificationsOf(other.token, other.userId)).unreadCount).toBe(1);
  });

  it('shows a user\'s notifications to that user only, staff included', async () => {
    const user = await registered();
    const response = await graphql(service.url, NOTIFICATIONS, { representations: [{ __typename: 'User', id: user.userId }], first: 5 }, await service.issuer.staff());
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    const bad = await graphql(service.url, NOTIFICATIONS, { representations: [{ __typename: 'User', id: user.userId }], first: 500 }, user.token);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('the sender', () => {
  it('claims, renders, sends and records a batch in two transactions, and asks nothing while nothing is due', async () => {
    const users = Array.from({ length: 10 }, (_, i) => ({ userId: crypto.randomUUID(), email: uniqueAddress(), name: `Batch ${i}` }));
    // One key, so one partition, one fetch and one consumer transaction: the sender is woken once.
    const key = crypto.randomUUID();
    const events = users.map((user) => newEvent('account.user.registered', key, user));
    const sent = async () => (await service.sql<{ n: number }>(`select count(*)::int as n from notification where status = 'SENT' and user_id in (${users.map(() => '?').join(', ')})`, users.map((user) => user.userId)))[0]!.n;
    // The earlier tests' notifications settled first: nothing else for the sender to do.
    await eventually(async () => (await service.sql<{ n: number }>(`select count(*)::int as n from notification where status in ('PENDING', 'SENDING')`))[0]!.n === 0, 'nothing due');
    queries.length = 0;
    await producer.send(...events);
    await handled.handled(events.at(-1)!);
    await eventually(async () => (await sent()) === 10, 'ten welcomes SENT');
    // A statement is logged once its answer is back in this process, which may be after another
    // connection has seen its effect.
    await eventually(async () => transactions(queries).length >= 3, 'the sender\'s statements logged');

    const [consumer, ...sender] = transactions(queries);
    expect(consumer![0]).toMatch(/^insert into processed_message /);
    expect(sender).toHaveLength(2);
    expect(sender[0]![0]).toMatch(/^update notification n\s+set status = 'SENDING'/);
    expect(sender[1]).toEqual([expect.stringMatching(/^update notification n\s+set status = v\.status/)]);

    queries.length = 0;
    await sleep(1_000);
    expect(queries).toEqual([]);
  });
});

/** The statements of each transaction, in order: begin…commit is one, any other statement one of its own. */
function transactions(statements: string[]): string[][] {
  const all: string[][] = [];
  let open: string[] | undefined;
  for (const sql of statements.map((statement) => statement.trim())) {
    if (sql === 'begin') all.push((open = []));
    else if (sql === 'commit' || sql === 'rollback') open = undefined;
    else if (open) open.push(sql);
    else all.push([sql]);
  }
  return all;
}
