import { runService, type MessageOutcome, type RequestContext, type Service, type ServiceDeps } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { ShippingService, type ShipmentView } from './domain/shipping.service.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface ShippingContext extends RequestContext {
  shipping: ShippingService;
  /** Batches the shipment lookups of one request (Order references), by order id. */
  shipmentsByOrder: DataLoader<string, ShipmentView | null>;
}

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the saga consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

export function createShippingApp({ config, logger, verifier, onMessage }: Deps): Promise<Service> {
  return runService({
    name: 'shipping',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    consumers: { saga: sagaHandlers },
    onMessage,
    context: ({ identity, em }): ShippingContext => {
      const shipping = new ShippingService(em);
      const shipmentsByOrder = new DataLoader<string, ShipmentView | null>(async (orderIds) => {
        const found = await shipping.forOrders(orderIds);
        return orderIds.map((id) => found.get(id.toLowerCase()) ?? null);
      });
      return { identity, shipping, shipmentsByOrder };
    },
  });
}
