import { createMetrics, runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { promotionsContext } from './context.ts';
import { promotionsMetrics } from './domain/promotions-metrics.ts';
import { startRedemptionSweeper } from './domain/redemption-sweeper.ts';
import { entities } from './entities/index.ts';
import { catalogHandlers } from './events/catalog.handler.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the consumers took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

/**
 * Coupons, the coupon on each customer's cart and its uses by orders: reserved by placeOrder
 * (`reserveCoupon`), then committed or released by the checkout saga (consumer group
 * `promotions.saga`); products' categories from catalog (`promotions.catalog`). The sweeper releases
 * reservations of orders never placed.
 */
export function createPromotionsApp({ config, logger, verifier, onQuery, onMessage }: Deps): Promise<Service> {
  const metrics = createMetrics('promotions');
  const promotions = promotionsMetrics(metrics);
  return runService({
    name: 'promotions',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    onQuery,
    metrics,
    consumers: { saga: sagaHandlers(logger, promotions), catalog: catalogHandlers },
    onMessage: (outcome) => {
      promotions.onMessage(outcome);
      onMessage?.(outcome);
    },
    workers: [({ orm }) => startRedemptionSweeper({ orm, logger, metrics: promotions, intervalMs: config.PROMOTIONS_SWEEP_INTERVAL_MS, ttlMs: config.PROMOTIONS_UNPLACED_TTL_MS })],
    context: promotionsContext(promotions),
  });
}
