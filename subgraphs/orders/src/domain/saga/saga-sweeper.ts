import type { Logger, Orm, Runner } from '@shopgraph/kit';
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
 * replicas (each skips rows another holds). `stop()` waits for a sweep in progress.
 */
export function startSagaSweeper(options: SagaSweeperOptions): Runner {
  const { orm, logger, metrics, intervalMs, timeoutMs, batchSize = 100 } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const sweep = async (): Promise<void> => {
    while (!stopped) {
      const stuckSince = new Date(Date.now() - timeoutMs);
      const cancelled = await orm.em.fork().transactional((em) => saga.cancelStuckOrders(em, stuckSince, batchSize));
      metrics.timedOut(cancelled);
      if (cancelled.length) logger.info({ orders: cancelled.map((order) => order.id) }, `cancelled ${cancelled.length} order(s) whose saga timed out`);
      if (cancelled.length < batchSize) return;
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep()
        .catch((error: unknown) => logger.error({ err: error }, 'saga sweep failed'))
        .finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
