import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { NOTIFICATION_KINDS } from './notification.entity.ts';

/** A user's choice for one kind; a kind without a row is sent by e-mail. */
export const NotificationPreference = defineEntity({
  name: 'NotificationPreference',
  properties: {
    userId: p.uuid().primary(),
    kind: p.enum(NOTIFICATION_KINDS).primary(),
    email: p.boolean(),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export type NotificationPreference = InferEntity<typeof NotificationPreference>;
