import { Counter, Histogram, type MessageOutcome, type Registry } from '@shopgraph/kit';
import type { Order } from '../../entities/order.entity.ts';
import { OrderStatus } from '../order-status.ts';

/** The statuses that end a checkout saga, by the outcome label they are counted under. */
const OUTCOMES: Partial<Record<OrderStatus, string>> = {
  [OrderStatus.CONFIRMED]: 'confirmed',
  [OrderStatus.OUT_OF_STOCK]: 'out_of_stock',
  [OrderStatus.PAYMENT_FAILED]: 'payment_failed',
  [OrderStatus.REJECTED]: 'rejected',
};

export type SagaMetrics = ReturnType<typeof sagaMetrics>;

/**
 * How checkout sagas end (confirmed, out_of_stock, payment_failed, rejected, timed_out) and how long they
 * took from placement. A saga step's end is counted only once its transaction committed: the
 * step notes it under its event's id, and the consumer's outcome for that event settles it.
 */
export function sagaMetrics(registry: Registry) {
  const completed = new Counter({ name: 'shopgraph_saga_completed_total', help: 'Checkout sagas ended, by outcome', labelNames: ['outcome'], registers: [registry] });
  const duration = new Histogram({
    name: 'shopgraph_saga_duration_seconds',
    help: 'From placeOrder to the end of its checkout saga, by outcome',
    labelNames: ['outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const ended = (outcome: string, order: Pick<Order, 'createdAt'>) => {
    completed.inc({ outcome });
    duration.observe({ outcome }, Math.max(0, Date.now() - order.createdAt.getTime()) / 1000);
  };
  // Ends noted by steps whose transaction has not committed yet, by event id.
  const noted = new Map<string, { outcome: string; order: Pick<Order, 'createdAt'> }>();
  return {
    /** A saga step moved `order` (in the step's transaction, not committed yet). */
    stepApplied(eventId: string, order: Pick<Order, 'status' | 'createdAt'>): void {
      const outcome = OUTCOMES[order.status];
      if (outcome) noted.set(eventId, { outcome, order: { createdAt: order.createdAt } });
    },
    /** The consumer's outcome for an event: counted if its transaction committed. */
    onMessage(outcome: MessageOutcome): void {
      const end = outcome.eventId === undefined ? undefined : noted.get(outcome.eventId);
      if (!end) return;
      noted.delete(outcome.eventId!);
      if (outcome.result === 'processed') ended(end.outcome, end.order);
    },
    /** Orders the sweeper cancelled, after its transaction committed. */
    timedOut(orders: Pick<Order, 'createdAt'>[]): void {
      for (const order of orders) ended('timed_out', order);
    },
  };
}
