import { handleOnly, type EventHandlers } from '@shopgraph/kit';
import { ShippingService } from '../domain/shipping.service.ts';

/**
 * Shipping's part of the checkout saga (consumer group `shipping.saga`): a CONFIRMED order gets
 * its shipment, and a cancelled order cancels it if it has not left yet. Shipping is the judge of
 * a CONFIRMED order's cancellation: `shipping.shipment.cancelled` lets payments and inventory
 * compensate; a shipment already on its way is kept (its `shipped` event voids the cancellation).
 * Other status changes never touch shipping, so they are skipped before any transaction is opened.
 */
export const sagaHandlers: EventHandlers = {
  'orders.order.status-changed': handleOnly<'orders.order.status-changed'>(
    (event) => event.data.status === 'CONFIRMED',
    async (event, em) => {
      await new ShippingService(em).orderStatusChanged(event.data);
    },
  ),
  'orders.order.cancelled': async (event, em) => {
    await new ShippingService(em).orderCancelled(event.data);
  },
};
