import { topics } from '@shopgraph/events';
import type { IncomingMessage } from 'node:http';
import { bearerToken, verifierFromConfig, type Identity, type TokenVerifier } from '@shopgraph/core/auth';
import { baseConfig, jwtConfig, z } from '@shopgraph/core/config';
import { databaseConfig, openDatabase, pingDatabase, type DatabaseOptions, type EntityManager, type Orm } from './db.ts';
import { createLogger, type Logger } from '@shopgraph/core/log';
import { runUntilSignal } from '@shopgraph/core/lifecycle';
import type { Route } from '@shopgraph/core/http';
import { createMetrics, metricsRoute, type Registry } from '@shopgraph/core/metrics';
import { createTracing, tracingConfig, type Tracer, type Tracing } from '@shopgraph/core/tracing';
import { limitsConfig } from '@shopgraph/core/limits';
import type { Session } from '@shopgraph/core/session';
import { startBroadcastConsumer, type BroadcastHandlers, type BroadcastOutcome } from './messaging/broadcast.ts';
import { startConsumer, type EventHandlers, type MessageOutcome } from './messaging/consumer.ts';
import { deadLetterTopic } from './messaging/dead-letters.ts';
import { createKafka, kafkaConfig, kafkaSecurity, type KafkaClient } from './messaging/kafka.ts';
import { messagingMetrics } from './messaging/metrics.ts';
import { startOutboxRelay, type Runner } from './messaging/relay.ts';
import type { RedisClient } from './redis.ts';
import { createSubgraph, readSchema, type GraphQLResolverMap, type RequestContext, type Service } from './subgraph.ts';

/** The settings every subgraph service reads; each extends it with its own `PORT` default and more. */
export const serviceConfig = z.object({
  ...baseConfig.shape,
  ...databaseConfig.shape,
  ...jwtConfig.shape,
  ...limitsConfig.shape,
  ...kafkaConfig.shape,
  ...tracingConfig.shape,
});
export type ServiceConfig = z.infer<typeof serviceConfig>;

/** What every service factory (`createXApp`) takes; a service adds its own test seams. */
export interface ServiceDeps<T extends ServiceConfig> {
  config: T;
  logger: Logger;
  /** Checks callers' access tokens instead of the service's default verifier; tests pass one that trusts their own keys. */
  verifier?: TokenVerifier;
  /** Sees every SQL statement the service sends (tests count round trips with it). */
  onQuery?: (sql: string) => void;
}

/** What the per-request context is built from. */
export interface RequestInput<S> {
  /** The caller, from a verified bearer token; null when anonymous. */
  identity: Identity | null;
  /** The caller's verified access token (to forward on its behalf); null when anonymous. */
  token: string | null;
  /** The HTTP request; null over WebSocket (an upgrade request is not kept for a connection's life). */
  req: IncomingMessage | null;
  /**
   * The graphql-ws connection an operation came on (null over HTTP). Its `identity` follows token
   * refreshes; the context is built again for each event of a subscription.
   */
  session: Session | null;
  /** A fresh EntityManager fork of the service's database, for this request only. */
  em: EntityManager;
  /** What `setup` returned. */
  setup: S;
}

/** What background work of a service runs on. */
export interface ServiceResources {
  orm: Orm;
  kafka: KafkaClient;
  metrics: Registry;
  /** The service's tracer when tracing is on (OTEL_*), else undefined: nothing to pay. */
  tracer?: Tracer;
}

export interface ServiceOptions<C extends RequestContext, S = undefined> {
  /**
   * The service's name: the subgraph's, its Kafka client id, the prefix of its consumer groups
   * (`<name>.<consumer>`) and the `source` of every event it records.
   */
  name: string;
  config: ServiceConfig;
  logger: Logger;
  /** The subgraph's SDL file, e.g. `new URL('../schema.graphql', import.meta.url)`. */
  schema: URL;
  resolvers: GraphQLResolverMap<C>;
  entities: DatabaseOptions['entities'];
  /** In order, applied at start. */
  migrations: DatabaseOptions['migrations'];
  /** Sees every SQL statement the service sends (tests count round trips with it). */
  onQuery?: (sql: string) => void;
  /**
   * Runs once the database is up to date, before Kafka and HTTP start (e.g. signing keys, a staff
   * account). What it returns reaches `verifier`, `routes` and `context` as `setup`.
   */
  setup?: (orm: Orm) => Promise<S>;
  /** Checks the callers' access tokens; defaults to the issuer's JWKS from `config` (JWT_*). */
  verifier?: TokenVerifier | ((setup: S) => TokenVerifier);
  /** Extra GET routes by exact path (e.g. a JWKS document). */
  routes?: Record<string, Route> | ((setup: S) => Record<string, Route>);
  /**
   * The registry served on `/metrics` (see `createMetrics`): pass one to add the domain's own
   * metrics to it; by default a new one. The messaging plumbing's metrics are added here.
   */
  metrics?: Registry;
  /** The per-request context resolvers see. */
  context: (request: RequestInput<S>) => C | Promise<C>;
  /** Idempotent consumers by name (consumer group `<name>.<consumer>`), each with its event handlers. */
  consumers?: Record<string, EventHandlers>;
  /** Sees what became of every message the consumers took (processed, duplicate, dead-lettered…); for metrics and tests. */
  onMessage?: (outcome: MessageOutcome) => void;
  /**
   * Fan-out consumers by name, for state held in this process's memory (e.g. live subscriptions):
   * every replica receives every event published after it started, in a consumer group of its
   * own (`<name>.<consumer>.<random>`); no bookkeeping, no retries, no dead letters.
   */
  broadcastConsumers?: Record<string, BroadcastHandlers>;
  /** Sees what became of every message the broadcast consumers took; for metrics and tests. */
  onBroadcast?: (outcome: BroadcastOutcome) => void;
  /**
   * Also serve the schema over graphql-ws on the same port and path (subscriptions): signed-in
   * callers only, the token in `connection_init`, same limits and checks as HTTP.
   */
  webSocket?: boolean;
  /** Background work beside the consumers (e.g. a sweeper), started in order once the relay runs. */
  workers?: ((resources: ServiceResources) => Runner | Promise<Runner>)[];
  /**
   * A Redis client the service uses (see `createRedis`), made by the caller because its context and
   * handlers hold it. The service owns it from here: it is closed with the service, after HTTP and
   * the consumers that use it have stopped (and when the start fails). It is not a readiness
   * check: Redis holds only what can be rebuilt, and a service given one works without it.
   */
  redis?: RedisClient;
}

/** What has started, for closing it in the one right order. */
interface Started {
  tracing?: Tracing;
  orm?: Orm;
  kafka?: KafkaClient;
  redis?: RedisClient;
  subgraph?: Service;
  relay?: Runner;
  workers: Runner[];
  consumers: Runner[];
}

/**
 * A subgraph service with all its plumbing: its database (migrated), Kafka topics, the outbox
 * relay publishing what it records, its consumers (idempotent and broadcast) and workers, and the
 * subgraph over HTTP (and graphql-ws, with `webSocket`) with a readiness check of the database.
 * Call `listen` on the result.
 *
 * `close()` stops taking work first and the plumbing it needs last: consumers, workers, relay,
 * HTTP (in-flight requests finish), Redis, database, Kafka. A start that fails half-way closes
 * what it had started the same way before it rejects.
 */
export async function runService<C extends RequestContext, S = undefined>(options: ServiceOptions<C, S>): Promise<Service> {
  const { name, config, logger } = options;
  const started: Started = { workers: [], consumers: [], redis: options.redis };
  try {
    // Checked before anything connects: a half-set SASL configuration stops the start naming it.
    const security = kafkaSecurity(config);
    const metrics = options.metrics ?? createMetrics(name);
    const tracing = (started.tracing = createTracing(name, config, metrics));
    const tracer = tracing.enabled ? tracing.tracer : undefined;
    const orm = (started.orm = await openDatabase({ url: config.DATABASE_URL, entities: options.entities, migrations: options.migrations, logger, onQuery: options.onQuery, tracer, service: name }));
    const setup = options.setup ? await options.setup(orm) : (undefined as S);
    const messaging = messagingMetrics(metrics, orm);
    const kafka = (started.kafka = createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: name,
      topicPrefix: config.KAFKA_TOPIC_PREFIX,
      replicationFactor: config.KAFKA_REPLICATION_FACTOR,
      logger,
      security,
      onRequest: messaging.onKafkaRequest,
    }));
    const consumers = Object.entries(options.consumers ?? {});
    // Every contract topic (whoever publishes it) and this service's dead-letter topics, at once.
    await kafka.ensureTopics([...topics, ...consumers.map(([consumer]) => deadLetterTopic(`${name}.${consumer}`))]);

    const routes = typeof options.routes === 'function' ? options.routes(setup) : options.routes;
    const verifier = typeof options.verifier === 'function' ? options.verifier(setup) : (options.verifier ?? verifierFromConfig(config));
    started.subgraph = await createSubgraph<C>({
      name,
      typeDefs: readSchema(options.schema),
      resolvers: options.resolvers,
      verifier,
      limits: config,
      logger,
      production: config.NODE_ENV === 'production',
      routes: { ...routes, '/metrics': metricsRoute(metrics) },
      metrics,
      tracer,
      // Kafka is not part of readiness: the outbox absorbs a broker outage (writes commit, the relay
      // publishes once it is back), so taking every replica out of service would only add an outage.
      readiness: { database: () => pingDatabase(orm) },
      webSocket: options.webSocket,
      // The kit has verified the header (or the connection's token) by the time this runs: with an identity it holds the token.
      context: (identity, req, session) => {
        const authorization = session ? session.authorization : req?.headers.authorization;
        return options.context({ identity, token: identity ? bearerToken(authorization) : null, req, session: session ?? null, em: orm.em.fork(), setup });
      },
    });

    started.relay = await startOutboxRelay({ orm, kafka, logger, onPublished: messaging.onPublished, tracer });
    for (const start of options.workers ?? []) started.workers.push(await start({ orm, kafka, metrics, tracer }));
    const onMessage = both(messaging.onMessage, options.onMessage);
    for (const [consumer, handlers] of consumers) {
      started.consumers.push(await startConsumer({ service: name, name: consumer, orm, kafka, logger, handlers, onMessage, onBatch: messaging.onBatch, tracer }));
    }
    const onBroadcast = both(messaging.onMessage, options.onBroadcast);
    for (const [consumer, handlers] of Object.entries(options.broadcastConsumers ?? {})) {
      started.consumers.push(await startBroadcastConsumer({ service: name, name: consumer, kafka, logger, handlers, onMessage: onBroadcast, tracer }));
    }
  } catch (error) {
    await stop(started, logger).catch((cleanup: unknown) => logger.error({ err: cleanup }, `${name}: cleanup after a failed start failed`));
    throw error;
  }
  const { server, listen } = started.subgraph;
  let closing: Promise<void> | undefined;
  return { server, listen, close: () => (closing ??= stop(started, logger)) };
}

/** Calls the plumbing's hook, then the service's own (if any). */
function both<T>(first: (value: T) => void, second: ((value: T) => void) | undefined): (value: T) => void {
  return second ? (value) => (first(value), second(value)) : first;
}

/**
 * Consumers first (no new work), then workers, the relay (the outbox keeps what it has not sent),
 * HTTP, Redis, the database, Kafka. Every step runs even when one before it failed; the first
 * failure is rethrown at the end.
 */
async function stop(started: Started, logger: Logger): Promise<void> {
  const { consumers, workers, relay, subgraph, redis, orm, kafka, tracing } = started;
  const steps: (() => Promise<void> | undefined)[] = [
    ...consumers.toReversed().map((consumer) => () => consumer.stop()),
    ...workers.toReversed().map((worker) => () => worker.stop()),
    () => relay?.stop(),
    () => subgraph?.close(),
    () => redis?.close(),
    () => orm?.close(),
    () => kafka?.close(),
    () => tracing?.shutdown(),
  ];
  let failure: { error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      logger.error({ err: error }, 'stopping failed');
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/**
 * A service's entrypoint: runs its app on `PORT`/`HOST` with a logger at `LOG_LEVEL` until
 * SIGTERM/SIGINT, then closes it (see `runUntilSignal`).
 */
export async function serveUntilSignal<T extends ServiceConfig>(name: string, config: T, createApp: (deps: { config: T; logger: Logger }) => Promise<Service>): Promise<void> {
  const logger = createLogger(name, config.LOG_LEVEL);
  await runUntilSignal(name, logger, async () => {
    const app = await createApp({ config, logger });
    logger.info({ url: await app.listen(config.PORT, config.HOST) }, `${name} listening`);
    return app;
  });
}
