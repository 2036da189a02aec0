import {
  createKafka, createSubgraph, createTokenIssuer, createTokenVerifier, DomainError, openDatabase, pingDatabase, readSchema, startOutboxRelay,
  type KafkaClient, type Logger, type RequestContext, type Route, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import { topics } from '@shopgraph/events';
import DataLoader from 'dataloader';

import { AccountsService, type SessionSettings } from './domain/accounts.service.ts';
import { publicOnly, SigningKeyService } from './domain/signing-key.service.ts';
import { entities, type User } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface AccountsContext extends RequestContext {
  accounts: AccountsService;
  /** Batches the user lookups of one request (entity references, `me`). */
  users: DataLoader<string, User | null>;
  /** Users who proved who they are in this request (register, login): they may read their own private fields. */
  signedIn: Set<string>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to a verifier of this service's own signing keys; tests may pass another. */
  verifier?: TokenVerifier;
}

export const JWKS_PATH = '/.well-known/jwks.json';

export async function createAccountsApp({ config, logger, verifier }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'accounts', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  let relay: Runner | undefined;
  try {
    // Newest first: tokens are signed with the newest key, the JWKS serves them all.
    const keys = await new SigningKeyService(orm.em.fork()).ensureKeys();
    const signingKey = keys[0]!;
    if (!config.JWT_ALGORITHMS.includes(signingKey.alg)) throw new Error(`JWT_ALGORITHMS must include ${signingKey.alg}, the signing key's algorithm`);
    const jwks = { keys: keys.map((key) => publicOnly(key.publicJwk)) };
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

    await ensureTopics(kafka, topics);
    // Publishes account.user.registered (recorded with each new user) from the outbox.
    relay = await startOutboxRelay({ orm, kafka, logger });

    const jwksBody = JSON.stringify(jwks);
    const serveJwks: Route = (_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/jwk-set+json; charset=utf-8',
        'content-length': Buffer.byteLength(jwksBody),
        'cache-control': 'public, max-age=300',
      });
      res.end(jwksBody);
    };

    const service = await createSubgraph<AccountsContext>({
      name: 'accounts',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      // Its own tokens are checked in-process against its own public keys, not over HTTP.
      verifier: verifier ?? createTokenVerifier({
        issuer: config.JWT_ISSUER,
        audience: config.JWT_AUDIENCE,
        algorithms: config.JWT_ALGORITHMS,
        clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_S,
        keys: jwks,
      }),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      routes: { [JWKS_PATH]: serveJwks },
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity) => {
        const accounts = new AccountsService(orm.em.fork(), settings);
        const users = new DataLoader<string, User | null>(async (ids) => {
          const found = new Map((await accounts.findUsers(ids)).map((user) => [user.id, user]));
          return ids.map((id) => found.get(id) ?? null);
        });
        return { identity, accounts, users, signedIn: new Set() };
      },
    });
    return {
      server: service.server,
      listen: service.listen,
      close: async () => {
        await relay?.stop();
        await service.close();
        await orm.close();
        await kafka.close();
      },
    };
  } catch (error) {
    await relay?.stop();
    await orm.close();
    await kafka.close();
    throw error;
  }
}

/**
 * `kafka.ensureTopics` with a few retries. Works around the kit's topic creation failing on a
 * fresh KRaft broker: kafkajs asks for the new topics' metadata before the broker has them and
 * gives up on UNKNOWN_TOPIC_OR_PARTITION; a second call finds the topics created. The consumer's
 * dead-letter topic is created here too, so the consumer finds it ensured. (Remove once the kit retries.)
 */
async function ensureTopics(kafka: KafkaClient, names: readonly string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kafka.ensureTopics(names);
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}
