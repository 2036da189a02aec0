import type { EventHandlers } from '@shopgraph/kit';
import { orderCancelledHandler } from './order-cancelled.handler.ts';
import { orderStatusChangedHandler } from './order-status-changed.handler.ts';

/** The events shipping takes part of the checkout saga from (consumer group `shipping.saga`). */
export const sagaHandlers: EventHandlers = {
  'orders.order.status-changed': orderStatusChangedHandler,
  'orders.order.cancelled': orderCancelledHandler,
};
