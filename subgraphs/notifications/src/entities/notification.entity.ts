import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const NOTIFICATION_KINDS = ['WELCOME', 'ORDER_CONFIRMED', 'PAYMENT_FAILED', 'ORDER_UNDER_REVIEW', 'ORDER_REJECTED', 'ORDER_CANCELLED', 'ORDER_SHIPPED', 'ORDER_DELIVERED', 'LOW_STOCK'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/**
 * PENDING: due at `nextAttemptAt` (new, or waiting to be retried). SENDING: claimed by a sender
 * until `nextAttemptAt` (its lease; a sender that died leaves it due again then). SENT: the mail
 * server accepted it. SKIPPED: no e-mail (turned off, or nobody to send it to). FAILED: the last
 * attempt failed, or the template could not be rendered; staff may retry it.
 */
export const DELIVERY_STATES = ['PENDING', 'SENDING', 'SENT', 'SKIPPED', 'FAILED'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/**
 * One notification: recorded by the consumer with the facts of its event, rendered and sent by
 * the sender. `key` (event id and kind) is unique, so one event notifies once however often it
 * comes. The content is null until rendered.
 */
export const Notification = defineEntity({
  name: 'Notification',
  properties: {
    id: p.uuid().primary(),
    key: p.string().unique(),
    kind: p.enum(NOTIFICATION_KINDS),
    /** Whom it is for; null until known (shipping's events name the order, not its customer) and for staff alerts without an account. */
    userId: p.uuid().nullable(),
    /** The order it is about, if any. */
    orderId: p.uuid().nullable(),
    /** What the event said that the read model does not know (a reason, a tracking number…). */
    facts: p.json<Record<string, unknown>>(),
    subject: p.text().nullable(),
    bodyText: p.text().nullable(),
    bodyHtml: p.text().nullable(),
    recipient: p.string().nullable(),
    status: p.enum(DELIVERY_STATES).default('PENDING'),
    attempts: p.integer().default(0),
    nextAttemptAt: p.datetime().defaultRaw('now()'),
    lastError: p.text().nullable(),
    sentAt: p.datetime().nullable(),
    readAt: p.datetime().nullable(),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
  indexes: [
    // The sender's claim: due rows only.
    { name: 'notification_due_index', properties: ['nextAttemptAt'], where: `status in ('PENDING', 'SENDING')` },
    { name: 'notification_user_index', properties: ['userId', 'createdAt', 'id'] },
    { name: 'notification_failed_index', properties: ['updatedAt', 'id'], where: `status = 'FAILED'` },
  ],
});
export type Notification = InferEntity<typeof Notification>;
