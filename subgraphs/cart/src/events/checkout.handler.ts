import { handleOnly, type EventHandlers, type Logger } from '@shopgraph/kit';
import type { CartCache } from '../domain/cart-cache.ts';
import { checkoutAction, CheckoutService } from '../domain/checkout.service.ts';

/**
 * The cart's part of checkout (consumer group `cart.checkout`): an order's lines leave the cart
 * when `orders.order.placed` is handled, and come back if the order fails without having been
 * confirmed; a confirmation leaves the cart alone, so what the customer adds meanwhile stays.
 * Orders does not own carts, so it does not empty them in placeOrder: the cart reacts to the
 * event, and a client reading its cart right after placeOrder may briefly still see the lines (the
 * order then takes from the cart as it is when the event is handled, never more than it holds).
 *
 * Both event types share the `orders.order.v1` topic, keyed by order id, so one order's events
 * arrive in order. A cart it changes leaves `cache` once the consumer's transaction has committed.
 */
export const checkoutHandlers = (cache: CartCache, logger: Logger): EventHandlers => ({
  'orders.order.placed': async (event, em) => {
    const { orderId, userId, lines } = event.data;
    await new CheckoutService(em, cache).place({ orderId, userId, lines });
  },
  // Statuses before the outcome (or after it) leave the cart alone: skipped without a transaction.
  'orders.order.status-changed': handleOnly(
    (event) => checkoutAction(event.data.status) !== 'wait',
    async (event, em) => {
      const settled = await new CheckoutService(em, cache).settle(event.data);
      if (settled.result === 'returned' && settled.dropped.length) {
        const { orderId, userId } = event.data;
        logger.warn({ eventId: event.id, orderId, userId, dropped: settled.dropped }, 'lines of a failed order did not all fit back into the cart (line or product limit): the rest dropped');
      }
    },
  ),
});
