import { awaitsShippingVerdict } from '@shopgraph/events';
import type { EventHandlers } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/**
 * Payments' part of the checkout saga (consumer group `payments.saga`): an order's payment intent
 * learns its total and method when the order is placed, is charged once its stock is reserved
 * (whichever of the two comes first), is never charged when the stock is rejected, and is
 * refunded or voided when the order is cancelled. Each runs in the consumer's transaction.
 *
 * Shipping decides a CONFIRMED order's cancellation (the goods may have left already), so that
 * one is left alone here and the refund waits for `shipping.shipment.cancelled`; if the shipment
 * had gone, no verdict comes and the payment stays captured. Earlier cancellations refund or void
 * at once, and leave a payment that late or replayed saga events can no longer charge.
 */
export const sagaHandlers = (gateway: PaymentGateway): EventHandlers => ({
  'orders.order.placed': async (event, em) => {
    await new PaymentService(em, gateway).orderPlaced(event.data);
  },
  'inventory.stock.reserved': async (event, em) => {
    await new PaymentService(em, gateway).stockReserved(event.data.orderId);
  },
  'inventory.stock.rejected': async (event, em) => {
    await new PaymentService(em, gateway).stockRejected(event.data.orderId);
  },
  'orders.order.cancelled': async (event, em) => {
    if (awaitsShippingVerdict(event.data)) return; // refunded on shipping.shipment.cancelled, if ever
    await new PaymentService(em, gateway).orderCancelled(event.data);
  },
  'shipping.shipment.cancelled': async (event, em) => {
    await new PaymentService(em, gateway).orderCancelled(event.data);
  },
});
