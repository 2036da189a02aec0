import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4005),
  /**
   * The subgraphs placeOrder reads the caller's cart, its current prices and the payment method
   * from, and reserves the cart's coupon at, directly (names and defaults as the router's:
   * supergraph.yaml's routing URLs).
   */
  SUBGRAPH_CART_URL: z.url().default('http://127.0.0.1:4004/graphql'),
  SUBGRAPH_CATALOG_URL: z.url().default('http://127.0.0.1:4002/graphql'),
  SUBGRAPH_PAYMENTS_URL: z.url().default('http://127.0.0.1:4006/graphql'),
  SUBGRAPH_PROMOTIONS_URL: z.url().default('http://127.0.0.1:4011/graphql'),
  /** How long placeOrder waits for all of them. */
  CHECKOUT_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(5000),
  /** How often the stuck-saga sweeper looks for orders no saga step has moved. */
  SAGA_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(5000),
  /** An order in PENDING or STOCK_RESERVED this long after its last status change is cancelled. */
  SAGA_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
});
export type Config = z.infer<typeof configSchema>;

export const loadOrdersConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
