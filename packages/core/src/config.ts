import { z } from 'zod';

/** Parses the environment against a schema once, at start-up; a bad value stops the process with every problem listed. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
    throw new Error(`Invalid configuration:\n${problems}`);
  }
  return parsed.data;
}

const csv = z.string().transform((s) => s.split(',').map((part) => part.trim()).filter(Boolean));

/** Settings every service shares; services extend this with their own. */
export const baseConfig = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535),
  HOST: z.string().default('127.0.0.1'),
});

/** How a service verifies access tokens: the issuer's JWKS (URL), audience and the algorithms it accepts. */
export const jwtConfig = z.object({
  JWT_ISSUER: z.string().min(1).default('http://127.0.0.1:4001'),
  JWT_JWKS_URL: z.url().optional(),
  JWT_AUDIENCE: z.string().min(1).default('shopgraph'),
  JWT_ALGORITHMS: csv.default(['ES256']),
  JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(5),
  /** While the JWKS URL cannot be fetched, keys fetched before keep verifying for this long after that fetch. */
  JWT_JWKS_STALE_TTL_S: z.coerce.number().int().min(0).max(86_400).default(3600),
});

/** How many proxies in front append the caller to `X-Forwarded-For` (see `clientAddress`); 0: the socket's peer. */
export const proxyConfig = z.object({
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
});

export { z } from 'zod';
