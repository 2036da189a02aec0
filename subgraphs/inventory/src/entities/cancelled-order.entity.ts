import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * An order whose cancellation inventory has compensated, whether it held stock or not: its
 * tombstone. A placement handled after it (a dead letter replayed once the saga had cancelled
 * the order) finds it and reserves nothing.
 */
export const CancelledOrder = defineEntity({
  name: 'CancelledOrder',
  properties: {
    /** Orders' order id; no foreign key (inventory does not own orders). */
    orderId: p.uuid().primary(),
    reason: p.text(),
    cancelledAt: p.datetime().defaultRaw('now()'),
  },
});
export type CancelledOrder = InferEntity<typeof CancelledOrder>;
