import { runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { inventoryContext } from './context.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
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
    context: inventoryContext,
  });
}
