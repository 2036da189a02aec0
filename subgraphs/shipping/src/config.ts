import { baseConfig, databaseConfig, jwtConfig, kafkaConfig, limitsConfig, loadConfig } from '@shopgraph/kit';
import { z } from '@shopgraph/kit';

export const configSchema = z.object({
  ...baseConfig.shape,
  ...databaseConfig.shape,
  ...jwtConfig.shape,
  ...limitsConfig.shape,
  ...kafkaConfig.shape,
  PORT: z.coerce.number().int().min(0).max(65535).default(4007),
});
export type Config = z.infer<typeof configSchema>;

export const loadShippingConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
