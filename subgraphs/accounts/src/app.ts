import {
  createTokenIssuer, createTokenVerifier, DomainError, runService,
  type Logger, type Orm, type Route, type Service, type ServiceDeps,
} from '@shopgraph/kit';
import { AccountsService, type SessionSettings } from './domain/accounts.service.ts';
import { publicOnly, SigningKeyService } from './domain/signing-key.service.ts';
import { accountsContext } from './context.ts';
import { entities } from './entities/index.ts';
import type { Jwk } from './entities/signing-key.entity.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

/** Its verifier defaults to one of this service's own signing keys. */
export type Deps = ServiceDeps<Config>;

export const JWKS_PATH = '/.well-known/jwks.json';

/** The public halves of the signing keys, as served at JWKS_PATH. */
type Jwks = { keys: Jwk[] };

export function createAccountsApp({ config, logger, verifier }: Deps): Promise<Service> {
  return runService({
    name: 'accounts',
    config,
    logger,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    setup: (orm) => prepare(orm, config, logger),
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
  });
}

/** The signing keys (newest first: tokens are signed with the newest, the JWKS serves them all) and the staff account from config. */
async function prepare(orm: Orm, config: Config, logger: Logger): Promise<{ settings: SessionSettings; jwks: Jwks }> {
  const keys = await new SigningKeyService(orm.em.fork()).ensureKeys();
  const signingKey = keys[0]!;
  if (!config.JWT_ALGORITHMS.includes(signingKey.alg)) throw new Error(`JWT_ALGORITHMS must include ${signingKey.alg}, the signing key's algorithm`);
  const settings: SessionSettings = {
    issuer: await createTokenIssuer({ issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, privateKey: signingKey.privateJwk, ttlSeconds: config.JWT_ACCESS_TOKEN_TTL_S }),
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_S,
    logger,
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
