import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4011),
  /** How often the sweeper looks for coupon reservations of orders never placed. */
  PROMOTIONS_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(10_000),
  /** A reservation still waiting for its order's placement this long after it was made is released. */
  PROMOTIONS_UNPLACED_TTL_MS: z.coerce.number().int().positive().default(120_000),
});
export type Config = z.infer<typeof configSchema>;

export const loadPromotionsConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
