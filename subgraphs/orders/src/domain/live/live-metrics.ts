import { Gauge, Histogram, type Registry } from '@shopgraph/kit';
import type { StatusChange, StatusChangeBus } from './live-status.ts';

export type LiveMetrics = ReturnType<typeof liveMetrics>;

/**
 * Live order tracking as this replica serves it: its open status subscriptions, and how long a
 * status change took from its commit to this replica's subscribers (the outbox, Kafka and the
 * broadcast consumer in between).
 */
export function liveMetrics(registry: Registry, bus: StatusChangeBus) {
  new Gauge({
    name: 'shopgraph_live_subscriptions',
    help: "Order status subscriptions open on this replica",
    registers: [registry],
    collect() {
      this.set(bus.subscribers());
    },
  });
  const delay = new Histogram({
    name: 'shopgraph_live_update_delay_seconds',
    help: "From a status change's commit to its delivery to this replica's subscribers of the order",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    /** A change was handed to the order's subscribers here (if it has any). */
    delivered(change: StatusChange): void {
      if (bus.subscribers(change.orderId)) delay.observe(Math.max(0, Date.now() - change.at.getTime()) / 1000);
    },
  };
}
