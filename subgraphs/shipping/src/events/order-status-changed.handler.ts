import { handleOnly } from '@shopgraph/kit';
import { ShippingService } from '../domain/shipping.service.ts';

/**
 * An order changed status: a CONFIRMED one gets its shipment. Other statuses never touch
 * shipping, so they are skipped before any transaction is opened.
 */
export const orderStatusChangedHandler = handleOnly<'orders.order.status-changed'>(
  (event) => event.data.status === 'CONFIRMED',
  async (event, em) => {
    await new ShippingService(em).orderStatusChanged(event.data);
  },
);
