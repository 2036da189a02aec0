import { loadConfig, redisConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  // REDIS_URL (empty: no cache, every read goes to Postgres) and REDIS_KEY_PREFIX, for the cart cache.
  ...redisConfig.shape,
  PORT: z.coerce.number().int().min(0).max(65535).default(4004),
  /**
   * The subgraphs cart asks directly whether a product exists (catalog) and how many are available
   * (inventory); names and defaults as the router's (supergraph.yaml's routing URLs).
   */
  SUBGRAPH_CATALOG_URL: z.url().default('http://127.0.0.1:4002/graphql'),
  SUBGRAPH_INVENTORY_URL: z.url().default('http://127.0.0.1:4003/graphql'),
  PRODUCT_LOOKUP_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(3000),
  /** How long a cart stays in the Redis cache after it was read from Postgres (every change removes it at once). */
  CART_CACHE_TTL_S: z.coerce.number().int().positive().max(86_400).default(300),
});
export type Config = z.infer<typeof configSchema>;

export const loadCartConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
