import {
  createKafka, createSubgraph, deadLetterTopic, openDatabase, pingDatabase, readSchema, startConsumer, startOutboxRelay, verifierFromConfig,
  type KafkaClient, type Logger, type RequestContext, type Runner, type Service, type TokenVerifier,
} from '@shopgraph/kit';
import { topics } from '@shopgraph/events';
import DataLoader from 'dataloader';
import { graphProductAvailability } from './clients/product-availability.client.ts';
import { CartService, type CartView } from './domain/cart.service.ts';
import type { ProductAvailability } from './domain/product-availability.ts';
import { entities } from './entities/index.ts';
import { checkoutHandlers } from './events/checkout.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface CartContext extends RequestContext {
  carts: CartService;
  /** Batches the cart reads of one request, by owner (`User.cart` for many users, references). */
  cartsByUser: DataLoader<string, CartView>;
  /** The caller's access token, forwarded when cart asks the supergraph about products. */
  token: string | null;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Defaults to asking the supergraph at GRAPH_URL; tests pass an in-process one. */
  products?: ProductAvailability;
}

export async function createCartApp({ config, logger, verifier, products }: Deps): Promise<Service> {
  const availability = products ?? graphProductAvailability({ url: config.GRAPH_URL, timeoutMs: config.PRODUCT_LOOKUP_TIMEOUT_MS, logger });
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations, logger });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'cart', topicPrefix: config.KAFKA_TOPIC_PREFIX, replicationFactor: config.KAFKA_REPLICATION_FACTOR, logger });
  // Stopped in reverse order of starting, on close or when start-up fails half-way.
  const runners: Runner[] = [];
  const stopRunners = async () => {
    for (const runner of runners.splice(0).reverse()) await runner.stop();
  };
  try {
    await ensureTopics(kafka, [...topics, deadLetterTopic('cart.checkout')]);
    // Cart records no events yet; the relay runs so one added later is published like everywhere else.
    runners.push(await startOutboxRelay({ orm, kafka, logger }));
    runners.push(await startConsumer({ service: 'cart', name: 'checkout', orm, kafka, logger, handlers: checkoutHandlers }));
    const service = await createSubgraph<CartContext>({
      name: 'cart',
      typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
      resolvers,
      verifier: verifier ?? verifierFromConfig(config),
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      readiness: { database: () => pingDatabase(orm), kafka: () => kafka.ping() },
      context: (identity, req) => {
        const carts = new CartService(orm.em.fork(), availability);
        const cartsByUser = new DataLoader<string, CartView>(async (userIds) => {
          const found = await carts.cartsOf(userIds);
          return userIds.map((userId) => found.get(userId)!);
        });
        // The kit has verified the header by now; with an identity it is "Bearer <token>".
        const token = identity ? (/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null) : null;
        return { identity, carts, cartsByUser, token };
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
