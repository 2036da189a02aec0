import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** A product and how many of it an order took from the cart. */
export interface CheckoutLine {
  productId: string;
  quantity: number;
}

/**
 * An order placed from a user's cart, and what it did to the cart: written when
 * `orders.order.placed` is handled (its lines leave the cart then), marked when the order is
 * confirmed (they stay out for good) or fails before that (they went back). Kept after the
 * outcome, so a duplicate or late event of the order finds it settled and changes nothing.
 */
export const Checkout = defineEntity({
  name: 'Checkout',
  properties: {
    orderId: p.uuid().primary(),
    userId: p.uuid(),
    /** What the order took from the cart: its quantities, less where the cart held fewer by then. */
    lines: p.json<CheckoutLine[]>(),
    createdAt: p.datetime().defaultRaw('now()'),
    /**
     * When `lines` left the cart. Null on rows of the release that left them in the cart until the
     * order was confirmed (see CheckoutService.settle), and on a failure recorded before its order
     * was seen placed.
     */
    takenAt: p.datetime().nullable(),
    /** When the order was confirmed: its lines stay out of the cart, even if it is cancelled later. */
    confirmedAt: p.datetime().nullable(),
    /** When the order failed before it was confirmed, and its lines went back into the cart. */
    returnedAt: p.datetime().nullable(),
  },
});
export type Checkout = InferEntity<typeof Checkout>;
