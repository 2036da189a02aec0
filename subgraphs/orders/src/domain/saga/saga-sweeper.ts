import { runPeriodically, type Logger, type Orm, type Runner } from '@shopgraph/kit';
import type { SagaMetrics } from './saga-metrics.ts';
import { saga } from './saga.service.ts';

export interface SagaSweeperOptions {
  orm: Orm;
  logger: Logger;
  metrics: SagaMetrics;
  /** How often to look (SAGA_SWEEP_INTERVAL_MS). */
  intervalMs: number;
  /** How long an order may wait for the saga's next step (SAGA_TIMEOUT_MS). */
  timeoutMs: number;
  /** Orders cancelled per transaction. */
  batchSize?: number;
}

/**
 * Times out stuck sagas: every `intervalMs`, cancels the orders that have sat in PENDING or
 * STOCK_RESERVED for longer than `timeoutMs` since their last status change. Safe with several
 * replicas (each skips rows another holds).
 */
export function startSagaSweeper(options: SagaSweeperOptions): Runner {
  const { orm, logger, metrics, intervalMs, timeoutMs, batchSize = 100 } = options;
  return runPeriodically('saga sweep', intervalMs, logger, async () => {
    const stuckSince = new Date(Date.now() - timeoutMs);
    const cancelled = await orm.em.fork().transactional((em) => saga.cancelStuckOrders(em, stuckSince, batchSize));
    metrics.timedOut(cancelled);
    if (cancelled.length) logger.info({ orders: cancelled.map((order) => order.id) }, `cancelled ${cancelled.length} order(s) whose saga timed out`);
    return cancelled.length === batchSize;
  });
}
