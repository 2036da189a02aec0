import {
  consumerOutcomes, eventProducer, eventually, graphql, mailTo, newEvent, outageProxy, smtpUrl, uniqueAddress, waitForMail,
  type EventProducer, type Outage, type ServiceUnderTest,
} from '@shopgraph/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '../src/domain/sender.ts';
import { startNotifications } from './support.ts';

// Delivery against a mail server that goes away (a proxy in front of the real one, cut and
// restored), a template that cannot be rendered, and a sender that dies between the send and
// recording it.

let service: ServiceUnderTest;
let proxy: Outage;
let producer: EventProducer;
let staff: string;
const handled = consumerOutcomes();
const outcomes: DeliveryOutcome[] = [];
/** Recipients whose first accepted e-mail "crashes" the sender before it is recorded. */
const crashOnce = new Set<string>();

const MAX_ATTEMPTS = 5;

beforeAll(async () => {
  proxy = await outageProxy(smtpUrl());
  service = await startNotifications(
    {
      onMessage: handled.record,
      onDelivery: (outcome) => void outcomes.push(outcome),
      // A template using a variable no shipment delivery has.
      templates: { ORDER_DELIVERED: { subject: 'Delivered by {{courier.name}}', text: 'Signed by {{courier.signature}}', html: '<p>{{courier.name}}</p>' } },
      afterSend: (mail) => {
        if (crashOnce.delete(mail.to)) throw new Error('crashed after the send');
      },
    },
    { env: { SMTP_URL: proxy.url, SMTP_TIMEOUT_MS: '1000', NOTIFICATION_MAX_ATTEMPTS: String(MAX_ATTEMPTS), NOTIFICATION_RETRY_BASE_MS: '100', NOTIFICATION_RETRY_MAX_MS: '400' } },
  );
  producer = eventProducer();
  staff = await service.issuer.staff();
});

afterAll(async () => {
  await producer?.close();
  await service?.close();
  await proxy?.close();
});

const FAILED = `query Failed($first: Int, $after: String) {
  failedNotifications(first: $first, after: $after) { totalCount edges { node { id kind user { id } recipient status attempts reason } } pageInfo { hasNextPage endCursor } }
}`;
const RETRY = 'mutation($input: RetryNotificationInput!) { retryNotification(input: $input) { delivery { id status attempts } errors { code } } }';

async function register(email = uniqueAddress()): Promise<{ userId: string; email: string }> {
  const userId = crypto.randomUUID();
  await handled.handled(await producer.publish('account.user.registered', userId, { userId, email, name: 'Mail Tester' }));
  return { userId, email };
}

const notificationOf = async (userId: string) =>
  (await service.sql<{ id: string; status: string; attempts: number; last_error: string | null }>('select id, status, attempts, last_error from notification where user_id = ?', [userId]))[0];

describe('the mail server away', () => {
  it('retries with backoff while it is down, and delivers once it is back', async () => {
    proxy.cut();
    let user: { userId: string; email: string };
    try {
      user = await register();
      const notification = await eventually(async () => {
        const row = await notificationOf(user.userId);
        return row && row.attempts >= 2 && row.status === 'PENDING' && row;
      }, 'two failed attempts');
      expect(notification.last_error).toMatch(/^the mail server refused or could not be reached: /);
      expect(await mailTo(user.email)).toEqual([]);
    } finally {
      proxy.restore();
    }
    const [mail, ...more] = await waitForMail(user.email);
    expect(more).toEqual([]);
    expect(mail!.subject).toBe('Welcome to Shopgraph, Mail Tester');
    const sent = await eventually(async () => {
      const row = await notificationOf(user.userId);
      return row?.status === 'SENT' && row;
    }, 'the notification SENT');
    expect(sent.attempts).toBeGreaterThanOrEqual(3);
    expect(sent.last_error).toBeNull();
  });

  it('marks an e-mail FAILED with the reason after the last attempt; staff see it and retry it', async () => {
    proxy.cut();
    let failedId: string;
    let user: { userId: string; email: string };
    try {
      user = await register();
      const failed = await eventually(async () => {
        const row = await notificationOf(user.userId);
        return row?.status === 'FAILED' && row;
      }, 'the notification FAILED');
      failedId = failed.id;
      expect(failed.attempts).toBe(MAX_ATTEMPTS);
      expect(outcomes.filter((o) => o.id === failedId).map((o) => o.status)).toEqual([...Array(MAX_ATTEMPTS - 1).fill('PENDING'), 'FAILED']);

      const listed = await graphql(service.url, FAILED, { first: 50 }, staff);
      expect(listed.errors).toBeUndefined();
      const node = listed.data!['failedNotifications'].edges.map((edge: { node: { id: string } }) => edge.node).find((n: { id: string }) => n.id === failedId);
      expect(node).toMatchObject({ kind: 'WELCOME', user: { id: user.userId }, recipient: user.email, status: 'FAILED', attempts: MAX_ATTEMPTS });
      expect(node.reason).toMatch(new RegExp(`^the mail server refused or could not be reached: .* \\(after ${MAX_ATTEMPTS} attempts\\)$`));
      expect((await graphql(service.url, FAILED, { first: 5 }, await service.issuer.customer())).errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    } finally {
      proxy.restore();
    }
    const retried = await graphql(service.url, RETRY, { input: { id: failedId } }, staff);
    expect(retried.data!['retryNotification']).toEqual({ delivery: { id: failedId, status: 'PENDING', attempts: 0 }, errors: [] });
    await waitForMail(user.email);
    await eventually(async () => (await notificationOf(user.userId))?.status === 'SENT', 'the retried notification SENT');
    const again = await graphql(service.url, RETRY, { input: { id: failedId } }, staff);
    expect(again.data!['retryNotification'].errors).toEqual([{ code: 'NOT_FAILED' }]);
    const unknown = await graphql(service.url, RETRY, { input: { id: crypto.randomUUID() } }, staff);
    expect(unknown.data!['retryNotification'].errors).toEqual([{ code: 'NOTIFICATION_NOT_FOUND' }]);
  });
});

describe('bad input', () => {
  it('fails a notification whose template lacks a variable, naming it, and the consumer goes on', async () => {
    const user = await register();
    const orderId = crypto.randomUUID();
    const productId = crypto.randomUUID();
    const address = { name: 'A', line1: '1 Main St', line2: null, city: 'X', postalCode: '1', country: 'GB' };
    await producer.publish('orders.order.placed', orderId, { orderId, userId: user.userId, lines: [{ productId, quantity: 1, unitPrice: { amount: 100, currency: 'USD' } }], total: { amount: 100, currency: 'USD' }, paymentMethod: 'pm_card_visa', shippingAddress: address });
    const shipmentId = crypto.randomUUID();
    const delivered = newEvent('shipping.shipment.delivered', shipmentId, { orderId, shipmentId, trackingNumber: 'SG1234567890', at: new Date().toISOString() });
    await producer.send(delivered);
    expect((await handled.handled(delivered)).map((o) => o.result)).toEqual(['processed']);
    const failed = await eventually(async () => {
      const [row] = await service.sql<{ id: string; status: string; attempts: number; last_error: string; subject: string | null }>(`select id, status, attempts, last_error, subject from notification where order_id = ?`, [orderId]);
      return row?.status === 'FAILED' && row;
    }, 'the delivery notification FAILED');
    expect(failed).toMatchObject({ attempts: 1, subject: null, last_error: 'template ORDER_DELIVERED: "name" not defined - 1:15' });

    // The consumer and the sender are fine: the next event notifies as usual.
    const next = await register();
    await waitForMail(next.email);
  });
});

describe('a sender dying between the send and recording it', () => {
  it('sends again once its lease ran out, with the same Message-ID, and records SENT', async () => {
    const email = uniqueAddress();
    crashOnce.add(email);
    const user = await register(email);
    const [first] = await waitForMail(email);
    await sleep(500);
    expect((await notificationOf(user.userId))!.status).toBe('SENDING');
    // The lease (3 × SMTP_TIMEOUT_MS + 5 s) runs out, and the notification is sent again.
    const mails = await waitForMail(email, 2, 20_000);
    expect(mails).toHaveLength(2);
    expect(new Set(mails.map((mail) => mail.messageId))).toEqual(new Set([first!.messageId]));
    await eventually(async () => (await notificationOf(user.userId))?.status === 'SENT', 'SENT after the resend');
    expect((await notificationOf(user.userId))!.attempts).toBe(2);
  }, 40_000);
});
