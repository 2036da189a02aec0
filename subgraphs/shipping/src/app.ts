import { topics } from '@shopgraph/events';
import {
  createKafka, createSubgraph, openDatabase, pingDatabase, readSchema, startConsumer, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type MessageOutcome, type Orm, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { ShippingService, type ShipmentView } from './domain/shipping.service.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface ShippingContext extends RequestContext {
  shipping: ShippingService;
  /** Batches the shipment lookups of one request (Order references), by order id. */
  shipmentsByOrder: DataLoader<string, ShipmentView | null>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Sees what became of every message the saga consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

export async function createShippingApp({ config, logger, verifier, onMessage }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'shipping', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  const started: Started = {};
  try {
    await kafka.ensureTopics(topics);
    started.relay = await startOutboxRelay({ orm, kafka, logger });
    started.consumer = await startConsumer({ service: 'shipping', name: 'saga', orm, kafka, logger, handlers: sagaHandlers, onMessage });
    started.service = await createSubgraph<ShippingContext>({
      name: 'shipping',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity) => {
        const shipping = new ShippingService(orm.em.fork());
        const shipmentsByOrder = new DataLoader<string, ShipmentView | null>(async (orderIds) => {
          const found = await shipping.forOrders(orderIds);
          return orderIds.map((id) => found.get(id.toLowerCase()) ?? null);
        });
        return { identity, shipping, shipmentsByOrder };
      },
    });
  } catch (error) {
    await stop(started, orm, kafka);
    throw error;
  }
  const { service } = started;
  return {
    server: service.server,
    listen: service.listen,
    close: () => stop(started, orm, kafka),
  };
}

interface Started {
  relay?: Runner;
  consumer?: Runner;
  service?: Service;
}

/** Consumer first (no new work), then the relay (the outbox keeps what it has not sent), the HTTP service, the database, Kafka. */
async function stop(started: Started, orm: Orm, kafka: KafkaClient): Promise<void> {
  await started.consumer?.stop();
  await started.relay?.stop();
  await started.service?.close();
  await orm.close();
  await kafka.close();
}
