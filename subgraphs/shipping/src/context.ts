import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { ShippingService, type ShipmentView } from './domain/shipping.service.ts';

export interface ShippingContext extends RequestContext {
  shipping: ShippingService;
  /** Batches the shipment lookups of one request (Order references), by order id. */
  shipmentsByOrder: DataLoader<string, ShipmentView | null>;
}

export function shippingContext({ identity, em }: RequestInput<unknown>): ShippingContext {
  const shipping = new ShippingService(em);
  return { identity, shipping, shipmentsByOrder: batchLoader((orderIds) => shipping.forOrders(orderIds), null) };
}
