import {
  createKafka, createSubgraph, openDatabase, pingDatabase, readSchema, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import { topics } from '@shopgraph/events';
import DataLoader from 'dataloader';
import { CatalogService } from './domain/catalog.service.ts';
import { entities, type Product } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface CatalogContext extends RequestContext {
  catalog: CatalogService;
  currency: string;
  /** Batches the product lookups of one request (entity references, cart pricing). */
  products: DataLoader<string, Product | null>;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
}

export async function createCatalogApp({ config, logger, verifier }: Deps): Promise<Service> {
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'catalog', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  let relay: Runner | undefined;
  try {
    await ensureTopics(kafka, topics);
    // Publishes catalog.product.changed (recorded with every product write) from the outbox.
    relay = await startOutboxRelay({ orm, kafka, logger });
    const service = await createSubgraph<CatalogContext>({
      name: 'catalog',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity) => {
        const catalog = new CatalogService(orm.em.fork(), config.CURRENCY);
        const products = new DataLoader<string, Product | null>(async (ids) => {
          const found = new Map((await catalog.findProducts(ids)).map((product) => [product.id, product]));
          return ids.map((id) => found.get(id) ?? null);
        });
        return { identity, catalog, currency: config.CURRENCY, products };
      },
    });
    return {
      server: service.server,
      listen: service.listen,
      close: async () => {
        await relay?.stop();
        await service.close();
        await orm.close();
        await kafka.close();
      },
    };
  } catch (error) {
    await relay?.stop();
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
