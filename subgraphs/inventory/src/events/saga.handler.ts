import { awaitsShippingVerdict } from '@shopgraph/events';
import type { EventHandlers } from '@shopgraph/kit';
import { ReservationService } from '../domain/reservation.service.ts';

/**
 * Inventory's part of the checkout saga (consumer group `inventory.saga`): reserve on order
 * placed, take the units on payment, give them back on payment failure or rejection (fraud review)
 * or cancellation. Each runs in the consumer's transaction, next to its processed-message row.
 *
 * Shipping decides a CONFIRMED order's cancellation (the goods may have left already), so that
 * one is left alone here and the restock waits for `shipping.shipment.cancelled`; if the shipment
 * had gone, no verdict comes and the units stay sold. Every cancellation inventory compensates
 * leaves a tombstone, so a placement replayed from the dead letters afterwards reserves nothing.
 */
export const sagaHandlers: EventHandlers = {
  'orders.order.placed': async (event, em) => {
    await new ReservationService(em).reserve(event.data);
  },
  'payments.payment.succeeded': async (event, em) => {
    await new ReservationService(em).commit(event.data.orderId);
  },
  'payments.payment.failed': async (event, em) => {
    await new ReservationService(em).release(event.data.orderId, 'payment failed');
  },
  // Staff rejected the order in fraud review: nothing was charged, compensated like a failed payment.
  'payments.payment.rejected': async (event, em) => {
    await new ReservationService(em).release(event.data.orderId, 'payment rejected');
  },
  'orders.order.cancelled': async (event, em) => {
    if (awaitsShippingVerdict(event.data)) return; // restocked on shipping.shipment.cancelled, if ever
    await new ReservationService(em).cancel(event.data.orderId, event.data.reason);
  },
  'shipping.shipment.cancelled': async (event, em) => {
    await new ReservationService(em).cancel(event.data.orderId, event.data.reason);
  },
};
