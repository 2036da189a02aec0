import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4002),
  /** The one currency the store prices in (ISO 4217). */
  CURRENCY: z.string().regex(/^[A-Z]{3}$/).default('USD'),
});
export type Config = z.infer<typeof configSchema>;

export const loadCatalogConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
