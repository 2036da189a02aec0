import {
  createKafka, createSubgraph, deadLetterTopic, openDatabase, pingDatabase, readSchema, startConsumer, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type MessageOutcome, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import { topics } from '@shopgraph/events';
import DataLoader from 'dataloader';
import { graphCheckoutSource } from './clients/checkout-source.client.ts';
import type { CheckoutSource } from './domain/checkout-source.ts';
import { OrdersService } from './domain/orders.service.ts';
import { startSagaSweeper } from './domain/saga-sweeper.ts';
import { entities, type Order, type OrderLine, type OrderStatusChange } from './entities/index.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

/** The consumer group of the saga observer is `orders.saga`. */
const SAGA = 'saga';

/**
 * Creates the topics orders uses, its dead-letter topic included (so the consumer finds them all).
 * Retried: right after creating topics, the kit's `ensureTopics` (kafkajs createTopics with
 * waitForLeaders) can fail with UNKNOWN_TOPIC_OR_PARTITION while a KRaft broker's metadata
 * catches up; the topics exist by then and a second call succeeds.
 */
async function ensureTopics(kafka: KafkaClient, names: string[], attempts = 5): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kafka.ensureTopics(names);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

export interface OrdersContext extends RequestContext {
  service: OrdersService;
  /** Batch the reads of one request (orders by id, their lines and histories): one query per batch. */
  orders: DataLoader<string, Order | null>;
  lines: DataLoader<string, OrderLine[]>;
  history: DataLoader<string, OrderStatusChange[]>;
  /** The caller's access token, forwarded when orders reads the caller's cart through the supergraph. */
  token: string | null;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Defaults to asking the supergraph at GRAPH_URL; tests pass an in-process one. */
  checkout?: CheckoutSource;
  /** Sees what became of each saga event the consumer took (processed, duplicate, dead-lettered…); for metrics and tests. */
  onSagaMessage?: (outcome: MessageOutcome) => void;
}

export async function createOrdersApp({ config, logger, verifier, checkout, onSagaMessage }: Deps): Promise<Service> {
  const source = checkout ?? graphCheckoutSource({ url: config.GRAPH_URL, timeoutMs: config.CHECKOUT_TIMEOUT_MS, logger });
  // What has started so far, stopped in reverse if a later step fails.
  const started: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const stop of started.reverse()) await stop().catch((error: unknown) => logger.error({ err: error }, 'orders: cleanup after a failed start failed'));
  };
  try {
    const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
    started.push(() => orm.close());
    const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'orders', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
    started.push(() => kafka.close());
    await ensureTopics(kafka, [...topics, deadLetterTopic(`orders.${SAGA}`)]);
    const relay = await startOutboxRelay({ orm, kafka, logger });
    started.push(() => relay.stop());
    const consumer: Runner = await startConsumer({ service: 'orders', name: SAGA, orm, kafka, logger, handlers: sagaHandlers(logger), onMessage: onSagaMessage });
    started.push(() => consumer.stop());
    const sweeper = startSagaSweeper({ orm, logger, intervalMs: config.SAGA_SWEEP_INTERVAL_MS, timeoutMs: config.SAGA_TIMEOUT_MS });
    started.push(() => sweeper.stop());

    const service = await createSubgraph<OrdersContext>({
      name: 'orders',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity, req) => {
        const orders = new OrdersService(orm.em.fork(), source);
        // The kit has verified the header by now; with an identity it is "Bearer <token>".
        const token = identity ? (/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null) : null;
        return {
          identity,
          service: orders,
          token,
          orders: new DataLoader(async (ids) => {
            const found = await orders.ordersById(ids);
            return ids.map((id) => found.get(id.toLowerCase()) ?? null);
          }),
          lines: new DataLoader(async (ids) => {
            const found = await orders.linesOf(ids);
            return ids.map((id) => found.get(id) ?? []);
          }),
          history: new DataLoader(async (ids) => {
            const found = await orders.historyOf(ids);
            return ids.map((id) => found.get(id) ?? []);
          }),
        };
      },
    });

    return {
      server: service.server,
      listen: service.listen,
      close: async () => {
        // Stop producing work first, then the plumbing it needs.
        await sweeper.stop();
        await consumer.stop();
        await relay.stop();
        await service.close();
        await orm.close();
        await kafka.close();
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}
