import { createSubgraph, openDatabase, pingDatabase, readSchema, verifierFromConfig, type Logger, type RequestContext, type Service, type TokenVerifier } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { InventoryService, type StockLevel } from './domain/inventory.service.ts';
import { entities } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface InventoryContext extends RequestContext {
  inventory: InventoryService;
  /** Batches the stock lookups of one request (all Product references): one query per batch. */
  stock: DataLoader<string, StockLevel | null>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Sees every SQL statement the service sends (tests count round trips with it). */
  onQuery?: (sql: string) => void;
}

export async function createInventoryApp({ config, logger, verifier, onQuery }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger, onQuery });
  const service = await createSubgraph<InventoryContext>({
    name: 'inventory',
    typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    verifier: verifier ?? verifierFromConfig(config),
    limits: config,
    logger,
    production: config.NODE_ENV === 'production',
    readiness: { database: () => pingDatabase(orm) },
    context: (identity) => {
      const inventory = new InventoryService(orm.em.fork());
      const stock = new DataLoader<string, StockLevel | null>(async (ids) => {
        const found = await inventory.stockLevels(ids);
        return ids.map((id) => found.get(id.toLowerCase()) ?? null);
      });
      return { identity, inventory, stock };
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
