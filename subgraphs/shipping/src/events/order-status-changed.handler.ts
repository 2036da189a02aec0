import type { EventHandler } from '@shopgraph/kit';
import { ShippingService } from '../domain/shipping.service.ts';

/** An order changed status: a CONFIRMED one gets its shipment. */
export const orderStatusChangedHandler: EventHandler<'orders.order.status-changed'> = async (event, em) => {
  await new ShippingService(em).orderStatusChanged(event.data);
};
