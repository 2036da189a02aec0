import { runPeriodically, type Logger, type Orm, type Runner } from '@shopgraph/kit';
import type { PromotionsMetrics } from './promotions-metrics.ts';
import { RedemptionsService } from './redemptions.service.ts';

export interface RedemptionSweeperOptions {
  orm: Orm;
  logger: Logger;
  metrics: PromotionsMetrics;
  /** How often to look (PROMOTIONS_SWEEP_INTERVAL_MS). */
  intervalMs: number;
  /** How long a reservation may wait for its order's placement (PROMOTIONS_UNPLACED_TTL_MS). */
  ttlMs: number;
  /** Reservations released per transaction. */
  batchSize?: number;
}

/**
 * Gives back the uses reserved for orders that were never placed: placeOrder reserved the coupon,
 * then its own transaction failed, so no `orders.order.placed` will ever come. Every `intervalMs`,
 * releases the reservations older than `ttlMs` still waiting for it. Safe with several replicas
 * (each skips rows another holds).
 */
export function startRedemptionSweeper(options: RedemptionSweeperOptions): Runner {
  const { orm, logger, metrics, intervalMs, ttlMs, batchSize = 100 } = options;
  return runPeriodically('redemption sweep', intervalMs, logger, async () => {
    const reservedBefore = new Date(Date.now() - ttlMs);
    const released = await orm.em.fork().transactional((em) => new RedemptionsService(em).releaseUnplaced(reservedBefore, batchSize));
    metrics.released(released.length);
    if (released.length) logger.info({ orders: released }, `released ${released.length} coupon reservation(s) of orders never placed`);
    return released.length === batchSize;
  });
}
