import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** A product in a customer's order, from `orders.order.placed` (reviews' read model of purchases). */
export const PurchasedLine = defineEntity({
  name: 'PurchasedLine',
  properties: {
    orderId: p.uuid().primary(),
    productId: p.uuid().primary(),
    userId: p.uuid(),
  },
  indexes: [{ properties: ['userId', 'productId'] }],
});
export type PurchasedLine = InferEntity<typeof PurchasedLine>;
