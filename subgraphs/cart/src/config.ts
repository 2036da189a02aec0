import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4004),
  /** The supergraph (router) cart asks whether a product exists and how many are in stock. */
  GRAPH_URL: z.url().default('http://127.0.0.1:4000/graphql'),
  PRODUCT_LOOKUP_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(3000),
});
export type Config = z.infer<typeof configSchema>;

export const loadCartConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
