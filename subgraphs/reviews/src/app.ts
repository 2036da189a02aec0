import { runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { reviewsContext } from './context.ts';
import { entities } from './entities/index.ts';
import { purchasesHandlers } from './events/purchases.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the purchases consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

export function createReviewsApp({ config, logger, verifier, onQuery, onMessage }: Deps): Promise<Service> {
  return runService({
    name: 'reviews',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    onQuery,
    consumers: { purchases: purchasesHandlers },
    onMessage,
    context: reviewsContext,
  });
}
