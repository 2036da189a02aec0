import { baseConfig, databaseConfig, limitsConfig, loadConfig, z } from '@shopgraph/kit';
import { parseRegistryTokens } from './domain/tokens.ts';

const csv = z.string().transform((s) => s.split(',').map((part) => part.trim()).filter(Boolean));

/**
 * The registry is a service on Postgres alone: no Kafka, no JWTs (callers present registry tokens).
 * Uploads are bounded twice: the whole request body, and each SDL in it.
 */
export const configSchema = z.object({
  ...baseConfig.shape,
  ...databaseConfig.shape,
  ...limitsConfig.shape,
  PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  /** A manifest of many operations is one request: more room than a subgraph's 1 MB. */
  LIMIT_MAX_BODY_BYTES: z.coerce.number().int().positive().default(5_000_000),
  /** `name:scope+scope:secret`, comma-separated; scopes check, publish, usage, router. */
  REGISTRY_TOKENS: z.string().min(1, 'at least one token is needed (name:scope+scope:secret)').transform((value, ctx) => {
    try {
      return parseRegistryTokens(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  /** Largest SDL accepted for one subgraph. */
  REGISTRY_MAX_SDL_BYTES: z.coerce.number().int().positive().default(512_000),
  /** Most operations one client manifest may hold. */
  REGISTRY_MAX_MANIFEST_OPERATIONS: z.coerce.number().int().positive().default(10_000),
  /** How far back a check looks at reported usage, unless the check asks for another window. */
  REGISTRY_USAGE_WINDOW_DAYS: z.coerce.number().int().min(1).max(90).default(7),
  /** Variants whose router accepts registered operations only (trusted documents). */
  REGISTRY_TRUSTED_DOCUMENTS_REQUIRED: csv.default([]),
});
export type Config = z.infer<typeof configSchema>;

export const loadRegistryConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
