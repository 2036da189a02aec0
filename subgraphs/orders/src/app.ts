import { createMetrics, runService, type BroadcastOutcome, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { subgraphCheckoutSource } from './clients/checkout-source.client.ts';
import { ordersContext } from './context.ts';
import type { CheckoutSource } from './domain/checkout-source.ts';
import { liveMetrics } from './domain/live/live-metrics.ts';
import { StatusChangeBus, type StatusFeedHooks } from './domain/live/live-status.ts';
import { sagaMetrics } from './domain/saga/saga-metrics.ts';
import { startSagaSweeper } from './domain/saga/saga-sweeper.ts';
import { entities } from './entities/index.ts';
import { liveHandlers } from './events/live.handler.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Defaults to asking cart, catalog and payments at their SUBGRAPH_*_URL; tests pass an in-process one. */
  checkout?: CheckoutSource;
  /** Sees what became of each saga event the consumer took (processed, duplicate, dead-lettered…); for metrics and tests. */
  onSagaMessage?: (outcome: MessageOutcome) => void;
  /** The in-process bus live status changes reach subscribers on; tests pass one to watch it. */
  statusBus?: StatusChangeBus;
  /** Test seams around the switch from history to live in each status subscription. */
  liveHooks?: StatusFeedHooks;
  /** Sees what became of each status change the live (broadcast) consumer took; for metrics and tests. */
  onLiveMessage?: (outcome: BroadcastOutcome) => void;
}

/**
 * Observes the checkout saga (consumer group `orders.saga`), times out stuck sagas (the sweeper),
 * and serves live order status over graphql-ws (`Subscription.orderStatusChanged`), fed by every
 * status change on Kafka (broadcast consumer `orders.live.<random>`: each replica gets them all).
 */
export function createOrdersApp({ config, logger, verifier, onQuery, checkout, onSagaMessage, statusBus, liveHooks, onLiveMessage }: Deps): Promise<Service> {
  const source =
    checkout ??
    subgraphCheckoutSource({
      urls: { cart: config.SUBGRAPH_CART_URL, catalog: config.SUBGRAPH_CATALOG_URL, payments: config.SUBGRAPH_PAYMENTS_URL, promotions: config.SUBGRAPH_PROMOTIONS_URL },
      timeoutMs: config.CHECKOUT_TIMEOUT_MS,
      logger,
    });
  const bus = statusBus ?? new StatusChangeBus();
  const metrics = createMetrics('orders');
  const sagas = sagaMetrics(metrics);
  return runService({
    name: 'orders',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    onQuery,
    metrics,
    consumers: { saga: sagaHandlers(logger, sagas) },
    onMessage: (outcome) => {
      sagas.onMessage(outcome);
      onSagaMessage?.(outcome);
    },
    broadcastConsumers: { live: liveHandlers(bus, liveMetrics(metrics, bus)) },
    onBroadcast: onLiveMessage,
    webSocket: true,
    workers: [({ orm }) => startSagaSweeper({ orm, logger, metrics: sagas, intervalMs: config.SAGA_SWEEP_INTERVAL_MS, timeoutMs: config.SAGA_TIMEOUT_MS })],
    context: ordersContext(source, bus, liveHooks),
  });
}
