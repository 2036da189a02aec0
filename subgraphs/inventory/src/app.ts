import {
  createKafka, createSubgraph, deadLetterTopic, openDatabase, pingDatabase, readSchema, startConsumer, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import { topics } from '@shopgraph/events';
import DataLoader from 'dataloader';
import { InventoryService, type StockLevel } from './domain/inventory.service.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface InventoryContext extends RequestContext {
  inventory: InventoryService;
  /** Batches the stock lookups of one request (all Product references): one query per batch. */
  stock: DataLoader<string, StockLevel | null>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Sees every SQL statement the service sends (tests count round trips with it). */
  onQuery?: (sql: string) => void;
}

export async function createInventoryApp({ config, logger, verifier, onQuery }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger, onQuery });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'inventory', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  // Stopped in reverse order of starting, on close or when start-up fails half-way.
  const runners: Runner[] = [];
  const stopRunners = async () => {
    for (const runner of runners.splice(0).reverse()) await runner.stop();
  };
  try {
    await ensureTopics(kafka, [...topics, deadLetterTopic('inventory.saga')]);
    runners.push(await startOutboxRelay({ orm, kafka, logger }));
    runners.push(await startConsumer({ service: 'inventory', name: 'saga', orm, kafka, logger, handlers: sagaHandlers }));
    const service = await createSubgraph<InventoryContext>({
      name: 'inventory',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity) => {
        const inventory = new InventoryService(orm.em.fork());
        const stock = new DataLoader<string, StockLevel | null>(async (ids) => {
          const found = await inventory.stockLevels(ids);
          return ids.map((id) => found.get(id.toLowerCase()) ?? null);
        });
        return { identity, inventory, stock };
      },
    });
    return {
      server: service.server,
      listen: service.listen,
      close: async () => {
        await stopRunners();
        await service.close();
        await orm.close();
        await kafka.close();
      },
    };
  } catch (error) {
    await stopRunners();
    await orm.close();
    await kafka.close();
    throw error;
  }
}

/**
 * `kafka.ensureTopics` with a few retries. Works around the kit's topic creation failing on a
 * fresh KRaft broker: kafkajs asks for the new topics' metadata before the broker has them and
 * gives up on UNKNOWN_TOPIC_OR_PARTITION; a second call finds the topics created. The consumer's
 * dead-letter topic is created here too, so the consumer finds it ensured. (Remove once the kit retries.)
 */
async function ensureTopics(kafka: KafkaClient, names: readonly string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kafka.ensureTopics(names);
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}
