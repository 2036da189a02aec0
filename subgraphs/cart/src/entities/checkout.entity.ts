import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** A product and how many of it an order took from the cart. */
export interface CheckoutLine {
  productId: string;
  quantity: number;
}

/**
 * An order placed from a user's cart whose outcome is not known yet: its lines leave the cart
 * only once the order is confirmed. Written on `orders.order.placed`, deleted when the order
 * reaches CONFIRMED (lines subtracted) or a failing final status (cart untouched).
 */
export const Checkout = defineEntity({
  name: 'Checkout',
  properties: {
    orderId: p.uuid().primary(),
    userId: p.uuid(),
    lines: p.json<CheckoutLine[]>(),
    createdAt: p.datetime().defaultRaw('now()'),
  },
});
export type Checkout = InferEntity<typeof Checkout>;
