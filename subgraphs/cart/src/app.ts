import { runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { graphProductAvailability } from './clients/product-availability.client.ts';
import { cartContext } from './context.ts';
import type { ProductAvailability } from './domain/product-availability.ts';
import { entities } from './entities/index.ts';
import { checkoutHandlers } from './events/checkout.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Defaults to asking the supergraph at GRAPH_URL; tests pass an in-process one. */
  products?: ProductAvailability;
  /** Sees what became of every message the checkout consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

/** Cart records no events yet; the kit's relay runs anyway, so one added later is published like everywhere else. */
export function createCartApp({ config, logger, verifier, products, onMessage }: Deps): Promise<Service> {
  const availability = products ?? graphProductAvailability({ url: config.GRAPH_URL, timeoutMs: config.PRODUCT_LOOKUP_TIMEOUT_MS, logger });
  return runService({
    name: 'cart',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    consumers: { checkout: checkoutHandlers },
    onMessage,
    context: cartContext(availability),
  });
}
