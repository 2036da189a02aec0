import { createRedis, runService, type MessageOutcome, type RedisClient, type Service, type ServiceDeps } from '@shopgraph/kit';
import { redisCartCache } from './clients/cart-cache.client.ts';
import { subgraphProductAvailability } from './clients/product-availability.client.ts';
import { cartContext } from './context.ts';
import { uncachedCarts, type CartCache } from './domain/cart-cache.ts';
import type { ProductAvailability } from './domain/product-availability.ts';
import { entities } from './entities/index.ts';
import { checkoutHandlers } from './events/checkout.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Defaults to asking catalog and inventory at their SUBGRAPH_*_URL; tests pass an in-process one. */
  products?: ProductAvailability;
  /** Sees what became of every message the checkout consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
  /** Sees every read of carts from Postgres, with the owners read (tests count what the cache saves). */
  onCartLoad?: (userIds: readonly string[]) => void;
  /** Runs after a cache miss was read from Postgres, before it is written to Redis (tests force races with it). */
  beforeCacheFill?: (userIds: readonly string[]) => Promise<void> | void;
}

/**
 * Cart records no events yet; the kit's relay runs anyway, so one added later is published like
 * everywhere else. Carts are read through a Redis cache when REDIS_URL is set; the service does
 * not wait for Redis nor depend on it (not part of /readyz): without it, carts come from Postgres.
 */
export function createCartApp({ config, logger, verifier, products, onMessage, onCartLoad, beforeCacheFill }: Deps): Promise<Service> {
  const availability =
    products ??
    subgraphProductAvailability({
      urls: { catalog: config.SUBGRAPH_CATALOG_URL, inventory: config.SUBGRAPH_INVENTORY_URL },
      timeoutMs: config.PRODUCT_LOOKUP_TIMEOUT_MS,
      logger,
    });
  const redis: RedisClient | undefined = config.REDIS_URL ? createRedis({ url: config.REDIS_URL, name: 'cart', logger }) : undefined;
  const cache = observeLoads(
    redis ? redisCartCache({ client: redis, keyPrefix: config.REDIS_KEY_PREFIX, ttlSeconds: config.CART_CACHE_TTL_S, logger, beforeFill: beforeCacheFill }) : uncachedCarts,
    onCartLoad,
  );
  return runService({
    name: 'cart',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    consumers: { checkout: checkoutHandlers(cache, logger) },
    onMessage,
    context: cartContext(availability, cache),
    redis,
  });
}

/** The cache, with `onLoad` told of every read it sends to Postgres. */
function observeLoads(cache: CartCache, onLoad?: (userIds: readonly string[]) => void): CartCache {
  if (!onLoad) return cache;
  return {
    cartsOf: (userIds, load) =>
      cache.cartsOf(userIds, (owners) => {
        onLoad(owners);
        return load(owners);
      }),
    invalidate: (userIds) => cache.invalidate(userIds),
  };
}
