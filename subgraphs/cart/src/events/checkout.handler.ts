import { handleOnly, type EventHandlers } from '@shopgraph/kit';
import type { CartCache } from '../domain/cart-cache.ts';
import { checkoutAction, CheckoutService } from '../domain/checkout.service.ts';

/**
 * The cart's part of checkout (consumer group `cart.checkout`): remember what an order took from
 * the cart, and take it out only once the order is confirmed. Both event types share the
 * `orders.order.v1` topic, keyed by order id, so one order's events arrive in order. A cart it
 * changes leaves `cache` once the consumer's transaction has committed.
 */
export const checkoutHandlers = (cache: CartCache): EventHandlers => ({
  'orders.order.placed': async (event, em) => {
    const { orderId, userId, lines } = event.data;
    await new CheckoutService(em, cache).remember({ orderId, userId, lines });
  },
  // Statuses before the outcome (or after it) leave the cart alone: skipped without a transaction.
  'orders.order.status-changed': handleOnly(
    (event) => checkoutAction(event.data.status) !== 'wait',
    async (event, em) => {
      await new CheckoutService(em, cache).settle(event.data);
    },
  ),
});
