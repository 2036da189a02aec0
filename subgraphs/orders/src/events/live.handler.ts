import type { BroadcastHandlers } from '@shopgraph/kit';
import type { LiveMetrics } from '../domain/live/live-metrics.ts';
import type { StatusChangeBus } from '../domain/live/live-status.ts';

/**
 * Live order status (broadcast consumer `orders.live.<random>`: every replica gets every change):
 * each `orders.order.status-changed` goes to this replica's subscribers of that order. Nothing is
 * written; a change missed here is read from the status history by the subscribers that need it.
 */
export function liveHandlers(bus: StatusChangeBus, metrics: LiveMetrics): BroadcastHandlers {
  return {
    'orders.order.status-changed': ({ data }) => {
      const change = { orderId: data.orderId, userId: data.userId, version: data.version, status: data.status, reason: data.reason ?? null, at: new Date(data.at) };
      bus.publish(change);
      metrics.delivered(change);
    },
  };
}
