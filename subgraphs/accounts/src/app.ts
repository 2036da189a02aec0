import {
  createRedis, createTokenIssuer, createTokenVerifier, DomainError, runService,
  type Logger, type Orm, type RedisClient, type Route, type Service, type ServiceDeps,
} from '@shopgraph/kit';
import { memoryAttempts, redisAttempts } from './clients/attempts.client.ts';
import { AccountsService, type SessionSettings } from './domain/accounts.service.ts';
import { publicOnly, SigningKeyService } from './domain/signing-key.service.ts';
import { SignInThrottle } from './domain/throttle.ts';
import { accountsContext, type AccountsSetup } from './context.ts';
import { entities } from './entities/index.ts';
import type { Jwk } from './entities/signing-key.entity.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

/** Its verifier defaults to one of this service's own signing keys. */
export interface Deps extends ServiceDeps<Config> {
  /** Called before each password is hashed or checked (tests count the expensive work a request does). */
  onPasswordWork?: () => void;
}

export const JWKS_PATH = '/.well-known/jwks.json';

/** The public halves of the signing keys, as served at JWKS_PATH. */
type Jwks = { keys: Jwk[] };

export function createAccountsApp({ config, logger, verifier, onPasswordWork }: Deps): Promise<Service> {
  const redis: RedisClient | undefined = config.REDIS_URL ? createRedis({ url: config.REDIS_URL, name: 'accounts', logger }) : undefined;
  const attempts = redis ? redisAttempts({ client: redis, keyPrefix: config.REDIS_KEY_PREFIX, logger }) : memoryAttempts();
  const throttle = new SignInThrottle(attempts);
  return runService({
    name: 'accounts',
    config,
    logger,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    setup: async (orm) => ({ ...(await prepare(orm, config, logger, onPasswordWork)), throttle, trustProxyHops: config.TRUST_PROXY_HOPS }),
    // Its own tokens are checked in-process against its own public keys, not over HTTP.
    verifier: verifier ?? (({ jwks }) => createTokenVerifier({
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      algorithms: config.JWT_ALGORITHMS,
      clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_S,
      keys: jwks,
    })),
    routes: ({ jwks }) => ({ [JWKS_PATH]: jwksRoute(jwks) }),
    context: accountsContext,
    redis,
  });
}

/** The signing keys (newest first: tokens are signed with the newest, the JWKS serves them all) and the staff account from config. */
async function prepare(orm: Orm, config: Config, logger: Logger, onPasswordWork?: () => void): Promise<Omit<AccountsSetup, 'throttle' | 'trustProxyHops'> & { jwks: Jwks }> {
  const keys = await new SigningKeyService(orm.em.fork()).ensureKeys();
  const signingKey = keys[0]!;
  if (!config.JWT_ALGORITHMS.includes(signingKey.alg)) throw new Error(`JWT_ALGORITHMS must include ${signingKey.alg}, the signing key's algorithm`);
  const settings: SessionSettings = {
    issuer: await createTokenIssuer({ issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, privateKey: signingKey.privateJwk, ttlSeconds: config.JWT_ACCESS_TOKEN_TTL_S }),
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_S,
    logger,
    onPasswordWork,
  };
  if (config.STAFF_EMAIL && config.STAFF_PASSWORD) {
    const staff = { email: config.STAFF_EMAIL, password: config.STAFF_PASSWORD, name: config.STAFF_NAME };
    const outcome = await new AccountsService(orm.em.fork(), settings).ensureStaff(staff).catch((error: unknown) => {
      throw error instanceof DomainError ? new Error(`Invalid staff account configuration (STAFF_*): ${error.message}`) : error;
    });
    logger.info({ email: staff.email, outcome }, 'staff account ensured');
  }
  return { settings, jwks: { keys: keys.map((key) => publicOnly(key.publicJwk)) } };
}

function jwksRoute(jwks: Jwks): Route {
  const body = JSON.stringify(jwks);
  return (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/jwk-set+json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'public, max-age=300',
    });
    res.end(body);
  };
}
