import { loadConfig, proxyConfig, redisConfig, serviceConfig, z } from '@shopgraph/kit';

/** An optional setting; an empty value (`STAFF_EMAIL=` in a compose file) counts as unset. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

export const configSchema = serviceConfig
  .extend({
    PORT: z.coerce.number().int().min(0).max(65535).default(4001),
    /** Lifetime of access tokens (JWTs), in seconds. */
    JWT_ACCESS_TOKEN_TTL_S: z.coerce.number().int().min(30).max(86_400).default(900),
    /** Lifetime of a refresh token, in seconds; each rotation issues a fresh one. */
    REFRESH_TOKEN_TTL_S: z.coerce.number().int().min(60).max(365 * 86_400).default(30 * 86_400),
    /** A staff account created (or brought up to date) at start; email and password go together. */
    STAFF_EMAIL: optional(z.string()),
    STAFF_PASSWORD: optional(z.string()),
    STAFF_NAME: z.string().min(1).default('Staff'),
    // REDIS_URL and REDIS_KEY_PREFIX: where sign-in attempts are counted, shared by the replicas
    // (empty REDIS_URL: each process counts its own).
    ...redisConfig.shape,
    // Sign-in attempts are counted by the client's address: behind the router, TRUST_PROXY_HOPS=1.
    ...proxyConfig.shape,
  })
  .refine((config) => !config.STAFF_EMAIL === !config.STAFF_PASSWORD, {
    message: 'STAFF_EMAIL and STAFF_PASSWORD must be set together',
    path: ['STAFF_PASSWORD'],
  });
export type Config = z.infer<typeof configSchema>;

export const loadAccountsConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);
