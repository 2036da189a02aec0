import type { EventHandler } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/** An order was placed: its payment intent learns the total and method (and is charged if its stock is already reserved). */
export const orderPlacedHandler =
  (gateway: PaymentGateway): EventHandler<'orders.order.placed'> =>
  async (event, em) => {
    await new PaymentService(em, gateway).orderPlaced(event.data);
  };
