import { createSubgraph, openDatabase, pingDatabase, readSchema, type Logger, type Orm, type Service, type TokenVerifier } from '@shopgraph/kit';
import type { Config } from './config.ts';
import { registryContext } from './context.ts';
import { registryTokenVerifier } from './domain/tokens.ts';
import { entities } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export interface Deps {
  config: Config;
  logger: Logger;
  /** Replaces the verifier of REGISTRY_TOKENS (the shape every service factory takes; the registry's tests use its tokens). */
  verifier?: TokenVerifier;
}

/**
 * The schema registry: its own Postgres database (migrated at start) and its GraphQL API, served by
 * the kit like a subgraph's (limits, @requiresScopes, masked errors, /healthz and /readyz), but not
 * part of the supergraph. Callers are registry tokens, not users: there is no Kafka and no JWT here.
 */
export async function createRegistryApp({ config, logger, verifier }: Deps): Promise<Service> {
  const orm: Orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger, service: 'registry' });
  try {
    const limits = {
      maxSdlBytes: config.REGISTRY_MAX_SDL_BYTES,
      maxManifestOperations: config.REGISTRY_MAX_MANIFEST_OPERATIONS,
      usageWindowDays: config.REGISTRY_USAGE_WINDOW_DAYS,
      trustedDocumentsRequired: config.REGISTRY_TRUSTED_DOCUMENTS_REQUIRED,
    };
    const context = registryContext(limits);
    const service = await createSubgraph({
      name: 'registry',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? registryTokenVerifier(config.REGISTRY_TOKENS),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm) },
      context: (identity) => context({ identity, token: null, req: null, session: null, em: orm.em.fork(), setup: undefined }),
    });
    return { ...service, close: () => service.close().finally(() => orm.close()) };
  } catch (error) {
    await orm.close();
    throw error;
  }
}
