import { runService, type MessageOutcome, type RequestContext, type Service, type ServiceDeps } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { InventoryService, type StockLevel } from './domain/inventory.service.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface InventoryContext extends RequestContext {
  inventory: InventoryService;
  /** Batches the stock lookups of one request (all Product references): one query per batch. */
  stock: DataLoader<string, StockLevel | null>;
}

export interface Deps extends ServiceDeps<Config> {
  /** Sees every SQL statement the service sends (tests count round trips with it). */
  onQuery?: (sql: string) => void;
  /** Sees what became of every message the saga consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

export function createInventoryApp({ config, logger, verifier, onQuery, onMessage }: Deps): Promise<Service> {
  return runService({
    name: 'inventory',
    config,
    logger,
    verifier,
    onQuery,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    consumers: { saga: sagaHandlers },
    onMessage,
    context: ({ identity, em }): InventoryContext => {
      const inventory = new InventoryService(em);
      const stock = new DataLoader<string, StockLevel | null>(async (ids) => {
        const found = await inventory.stockLevels(ids);
        return ids.map((id) => found.get(id.toLowerCase()) ?? null);
      });
      return { identity, inventory, stock };
    },
  });
}
