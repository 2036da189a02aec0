import type { EventHandler } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/** The order was cancelled: refund its payment, or make sure it is never charged. */
export const orderCancelledHandler =
  (gateway: PaymentGateway): EventHandler<'orders.order.cancelled'> =>
  async (event, em) => {
    await new PaymentService(em, gateway).orderCancelled(event.data);
  };
