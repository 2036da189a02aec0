import type { EventHandler } from '@shopgraph/kit';
import { ShippingService } from '../domain/shipping.service.ts';

/** An order was cancelled: its shipment is too, if it has not left yet. */
export const orderCancelledHandler: EventHandler<'orders.order.cancelled'> = async (event, em) => {
  await new ShippingService(em).orderCancelled(event.data);
};
