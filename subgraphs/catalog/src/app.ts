import { runService, type Service, type ServiceDeps } from '@shopgraph/kit';
import { catalogContext } from './context.ts';
import { entities } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export type Deps = ServiceDeps<Config>;

/** Publishes catalog.product.changed (recorded with every product write); consumes nothing. */
export function createCatalogApp({ config, logger, verifier, onQuery }: Deps): Promise<Service> {
  return runService({
    name: 'catalog',
    config,
    logger,
    verifier,
    onQuery,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    context: catalogContext(config.CURRENCY),
  });
}
