import { topics } from '@shopgraph/events';
import {
  createKafka, createSubgraph, openDatabase, pingDatabase, readSchema, startConsumer, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type MessageOutcome, type Orm, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import DataLoader from 'dataloader';
import type { PaymentGateway } from './domain/payment-provider.ts';
import { PaymentService } from './domain/payment.service.ts';
import { entities, type Payment } from './entities/index.ts';
import { sagaHandlers } from './events/index.ts';
import { migrations } from './migrations/index.ts';
import { testPaymentGateway } from './providers/test-payment.provider.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface PaymentsContext extends RequestContext {
  gateway: PaymentGateway;
  /** Batches the payment lookups of one request (Order references), by order id. */
  paymentsByOrder: DataLoader<string, Payment | null>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Sees what became of every message the saga consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
  /** The payment provider; defaults to the built-in test provider. */
  gateway?: PaymentGateway;
}

export async function createPaymentsApp({ config, logger, verifier, onMessage, gateway = testPaymentGateway }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'payments', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  const started: Started = {};
  try {
    await kafka.ensureTopics(topics);
    started.relay = await startOutboxRelay({ orm, kafka, logger });
    started.consumer = await startConsumer({ service: 'payments', name: 'saga', orm, kafka, logger, handlers: sagaHandlers(gateway), onMessage });
    started.service = await createSubgraph<PaymentsContext>({
      name: 'payments',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity) => {
        const payments = new PaymentService(orm.em.fork(), gateway);
        const paymentsByOrder = new DataLoader<string, Payment | null>(async (orderIds) => {
          const found = await payments.forOrders(orderIds);
          return orderIds.map((id) => found.get(id.toLowerCase()) ?? null);
        });
        return { identity, gateway, paymentsByOrder };
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
