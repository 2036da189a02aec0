import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { ORDER_STATUSES } from '../domain/order-status.ts';
import { Order } from './order.entity.ts';

/**
 * One status an order has had. Versions count 1, 2, 3… per order; the primary key makes a gap-free,
 * duplicate-free history the database's job too (two writers of one version cannot both commit).
 */
export const OrderStatusChange = defineEntity({
  name: 'OrderStatusChange',
  properties: {
    order: () => p.manyToOne(Order).primary().deleteRule('cascade'),
    version: p.integer().primary().check('version > 0'),
    status: p.enum(ORDER_STATUSES),
    reason: p.text().nullable(),
    at: p.datetime(),
  },
});
export type OrderStatusChange = InferEntity<typeof OrderStatusChange>;
