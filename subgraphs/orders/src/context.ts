import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import type { CheckoutSource } from './domain/checkout-source.ts';
import { LiveStatusService, type StatusChangeBus, type StatusFeedHooks } from './domain/live/live-status.ts';
import { OrdersService } from './domain/orders.service.ts';
import type { Order, OrderLine, OrderStatusChange } from './entities/index.ts';

export interface OrdersContext extends RequestContext {
  service: OrdersService;
  /** Batch the reads of one request (orders by id, their lines and histories): one query per batch. */
  orders: DataLoader<string, Order | null>;
  lines: DataLoader<string, OrderLine[]>;
  history: DataLoader<string, OrderStatusChange[]>;
  /** The caller's access token, forwarded when orders reads the caller's cart, prices and payment method from their subgraphs. */
  token: string | null;
  /** Live status subscriptions (`Subscription.orderStatusChanged`). */
  live: LiveStatusService;
}

export const ordersContext =
  (source: CheckoutSource, bus: StatusChangeBus, liveHooks: StatusFeedHooks | undefined) =>
  ({ identity, token, em }: RequestInput<unknown>): OrdersContext => {
    const orders = new OrdersService(em, source);
    return {
      identity,
      service: orders,
      token,
      live: new LiveStatusService(em, bus, liveHooks),
      orders: batchLoader((ids) => orders.ordersById(ids), null),
      lines: batchLoader((ids) => orders.linesOf(ids), []),
      history: batchLoader((ids) => orders.historyOf(ids), []),
    };
  };
