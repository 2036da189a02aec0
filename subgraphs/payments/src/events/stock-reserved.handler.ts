import type { EventHandler } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { PaymentService } from '../domain/payment.service.ts';

/** The order's stock is reserved: charge it (once the order itself is known). */
export const stockReservedHandler =
  (gateway: PaymentGateway): EventHandler<'inventory.stock.reserved'> =>
  async (event, em) => {
    await new PaymentService(em, gateway).stockReserved(event.data.orderId);
  };
