import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export interface Money {
  amount: number;
  currency: string;
}

export interface SummaryLine {
  productId: string;
  quantity: number;
  unitPrice: Money;
}

/** Read model of orders (from `orders.order.placed`): whose they are, what was bought, for how much. */
export const OrderSummary = defineEntity({
  name: 'OrderSummary',
  properties: {
    orderId: p.uuid().primary(),
    userId: p.uuid(),
    lines: p.json<SummaryLine[]>(),
    total: p.json<Money>(),
  },
});
export type OrderSummary = InferEntity<typeof OrderSummary>;
