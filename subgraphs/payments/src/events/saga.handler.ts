import type { EventHandlers } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/**
 * Payments' part of the checkout saga (consumer group `payments.saga`): an order's payment intent
 * learns its total and method when the order is placed, is charged once its stock is reserved
 * (whichever of the two comes first), is never charged when the stock is rejected, and is
 * refunded or voided when the order is cancelled. Each runs in the consumer's transaction.
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
    await new PaymentService(em, gateway).orderCancelled(event.data);
  },
});
