import { Counter, createMetrics, createRedis, runService, type MessageOutcome, type RedisClient, type Registry, type Service, type ServiceDeps } from '@shopgraph/kit';
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
  const metrics = createMetrics('cart');
  const cache = observeLoads(
    redis ? redisCartCache({ client: redis, keyPrefix: config.REDIS_KEY_PREFIX, ttlSeconds: config.CART_CACHE_TTL_S, logger, beforeFill: beforeCacheFill }) : uncachedCarts,
    metrics,
    onCartLoad,
  );
  return runService({
    name: 'cart',
    config,
    logger,
    verifier,
    metrics,
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

/**
 * The cache, counting its hits and misses (`shopgraph_cache_lookups_total`: a cart read from
 * Postgres, Redis away included, is a miss) and telling `onLoad` of every read it sends to Postgres.
 */
function observeLoads(cache: CartCache, metrics: Registry, onLoad?: (userIds: readonly string[]) => void): CartCache {
  const lookups = new Counter({ name: 'shopgraph_cache_lookups_total', help: 'Cache reads by result: hit (served from the cache, or a read another reader shared) or miss (read from the database)', labelNames: ['cache', 'result'], registers: [metrics] });
  const hits = lookups.labels({ cache: 'cart', result: 'hit' });
  const misses = lookups.labels({ cache: 'cart', result: 'miss' });
  return {
    async cartsOf(userIds, load) {
      let loaded = 0;
      const carts = await cache.cartsOf(userIds, (owners) => {
        loaded += owners.length;
        onLoad?.(owners);
        return load(owners);
      });
      misses.inc(loaded);
      hits.inc(Math.max(0, userIds.length - loaded));
      return carts;
    },
    invalidate: (userIds) => cache.invalidate(userIds),
  };
}
