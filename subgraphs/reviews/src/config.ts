import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4010),
});
export type Config = z.infer<typeof configSchema>;

export const loadReviewsConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
