import type { EventHandler } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/** The order's stock could not be reserved: its payment intent is cancelled, never charged. */
export const stockRejectedHandler =
  (gateway: PaymentGateway): EventHandler<'inventory.stock.rejected'> =>
  async (event, em) => {
    await new PaymentService(em, gateway).stockRejected(event.data.orderId);
  };
