import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * An order that reached DELIVERED (`orders.order.status-changed`). Kept apart from its lines, so
 * the two events may be handled in either order (a dead letter replayed late) and still meet.
 */
export const DeliveredOrder = defineEntity({
  name: 'DeliveredOrder',
  properties: {
    orderId: p.uuid().primary(),
    userId: p.uuid(),
    deliveredAt: p.datetime(),
  },
});
export type DeliveredOrder = InferEntity<typeof DeliveredOrder>;
