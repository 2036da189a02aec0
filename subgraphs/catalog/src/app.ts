import { createSubgraph, openDatabase, pingDatabase, readSchema, verifierFromConfig, type Logger, type RequestContext, type Service, type TokenVerifier } from '@shopgraph/kit';
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

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
}

export async function createCatalogApp({ config, logger, verifier }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const service = await createSubgraph<CatalogContext>({
    name: 'catalog',
    typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    verifier: verifier ?? verifierFromConfig(config),
    limits: config,
    logger,
    production: config.NODE_ENV === 'production',
    readiness: { database: () => pingDatabase(orm) },
    context: (identity) => {
      const catalog = new CatalogService(orm.em.fork(), config.CURRENCY);
      const products = new DataLoader<string, Product | null>(async (ids) => {
        const found = new Map((await catalog.findProducts(ids)).map((product) => [product.id, product]));
        return ids.map((id) => found.get(id) ?? null);
      });
      return { identity, catalog, currency: config.CURRENCY, products };
    },
  });
  return {
    server: service.server,
    listen: service.listen,
    close: async () => {
      await service.close();
      await orm.close();
    },
  };
}
