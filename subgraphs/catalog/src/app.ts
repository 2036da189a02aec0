import { runService, type RequestContext, type Service, type ServiceDeps } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { CatalogService } from './domain/catalog.service.ts';
import { entities, type Product } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface CatalogContext extends RequestContext {
  catalog: CatalogService;
  currency: string;
  /** Batches the product lookups of one request (entity references, cart pricing). */
  products: DataLoader<string, Product | null>;
}

export type Deps = ServiceDeps<Config>;

/** Publishes catalog.product.changed (recorded with every product write); consumes nothing. */
export function createCatalogApp({ config, logger, verifier }: Deps): Promise<Service> {
  return runService({
    name: 'catalog',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    context: ({ identity, em }): CatalogContext => {
      const catalog = new CatalogService(em, config.CURRENCY);
      const products = new DataLoader<string, Product | null>(async (ids) => {
        const found = new Map((await catalog.findProducts(ids)).map((product) => [product.id, product]));
        return ids.map((id) => found.get(id) ?? null);
      });
      return { identity, catalog, currency: config.CURRENCY, products };
    },
  });
}
