import { readFileSync } from 'node:fs';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type IHeaders, type LogEntry, type Producer, type RequestEvent, type SASLOptions } from 'kafkajs';
import { z } from 'zod';
import type { Logger } from '@shopgraph/core/log';
import { errorMessage, registerInternals } from './internal.ts';
import { sleep } from '@shopgraph/core/lifecycle';

/** How a service reaches Kafka; `KAFKA_TOPIC_PREFIX` isolates test runs sharing one broker. */
export const kafkaConfig = z.object({
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .refine((brokers) => brokers.length > 0 && brokers.every((b) => /^(\[[0-9a-fA-F:]+\]|[^\s:/[\]]+):\d{1,5}$/.test(b) && Number(b.slice(b.lastIndexOf(':') + 1)) <= 65535), 'comma-separated host:port brokers, e.g. kafka-0:9092,kafka-1:9092'),
  KAFKA_TOPIC_PREFIX: z.string().default(''),
  /** Replicas of the topics the services create (1 for a single broker; 3 on a real cluster). */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  /** SASL authentication (a user per service; SCRAM on the project's brokers); unset: none. Needs the username and password too. */
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-256', 'scram-sha-512', 'plain']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** TLS to the brokers, verified against the system's CAs or KAFKA_SSL_CA_FILE (PEM). */
  KAFKA_SSL: z.enum(['true', 'false'], { error: 'true or false' }).default('false').transform((value) => value === 'true'),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
});
export type KafkaConfig = z.infer<typeof kafkaConfig>;

/** How a client proves who it is and protects the connection (SASL, TLS); none by default. */
export interface KafkaSecurity {
  /** The password is not enumerable: it never shows in a log line or JSON of these options. */
  sasl?: SASLOptions;
  /** true: TLS verified against the system's CAs; `{ ca }`: against these PEM certificates. */
  ssl?: boolean | { ca: string[] };
}

/**
 * The SASL and TLS settings of a kafkaConfig, checked together (their fields are spread into
 * larger schemas, which lose an object's own refinements): a mechanism needs a username and a
 * password, and these need a mechanism. Throws naming each variable at fault, as loadConfig does.
 */
export function kafkaSecurity(config: Pick<KafkaConfig, 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD' | 'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE'>): KafkaSecurity {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = config;
  const problems: string[] = [];
  if (mechanism) {
    if (!username) problems.push('KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM');
    if (!password) problems.push('KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM');
  } else {
    if (username) problems.push('KAFKA_SASL_USERNAME: needs KAFKA_SASL_MECHANISM (scram-sha-256, scram-sha-512 or plain)');
    if (password) problems.push('KAFKA_SASL_PASSWORD: needs KAFKA_SASL_MECHANISM (scram-sha-256, scram-sha-512 or plain)');
  }
  if (config.KAFKA_SSL_CA_FILE && !config.KAFKA_SSL) problems.push('KAFKA_SSL_CA_FILE: needs KAFKA_SSL=true');
  let ca: string | undefined;
  if (config.KAFKA_SSL_CA_FILE && config.KAFKA_SSL) {
    try {
      ca = readFileSync(config.KAFKA_SSL_CA_FILE, 'utf8');
    } catch (error) {
      problems.push(`KAFKA_SSL_CA_FILE: cannot read ${config.KAFKA_SSL_CA_FILE}: ${errorMessage(error)}`);
    }
  }
  if (problems.length > 0) throw new Error(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  const security: KafkaSecurity = {};
  if (mechanism && username && password) {
    const sasl = { mechanism, username } as SASLOptions;
    Object.defineProperty(sasl, 'password', { value: password, enumerable: false });
    security.sasl = sasl;
  }
  if (config.KAFKA_SSL) security.ssl = ca === undefined ? true : { ca: [ca] };
  return security;
}

/** Partitions of every topic the project creates; events are keyed by aggregate id. */
export const DEFAULT_PARTITIONS = 3;

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every topic name and consumer group (test isolation). */
  topicPrefix?: string;
  /** Partitions of topics created by ensureTopics (default 3). */
  partitions?: number;
  /** Replication factor of topics created by ensureTopics (default 1: a single broker). */
  replicationFactor?: number;
  /** Where kafkajs' own warnings and errors go; without one they are dropped (they are noisy and retried anyway). */
  logger?: Logger;
  /** SASL and TLS (see `kafkaSecurity`); plaintext and anonymous without. */
  security?: KafkaSecurity;
  /** Called for every request the client's producer, consumers and admin send to a broker, with its API's name (Fetch, Produce, Heartbeat…): metrics. */
  onRequest?: (apiName: string) => void;
}

/** Kafka message headers (a name may repeat: then its value is a list). */
export type MessageHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** A message to produce; `topic` is logical (the client adds its prefix). */
export interface OutgoingMessage {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: MessageHeaders;
}

/** The project's handle on Kafka (kafkajs stays behind this adapter: it is unmaintained since 2023). */
export interface KafkaClient {
  readonly topicPrefix: string;
  /** The physical name of a logical topic. */
  topic(name: string): string;
  /** The physical consumer group id of a logical group `<service>.<name>` (prefixed like topics). */
  groupId(group: string): string;
  /** Creates the topics that do not exist yet (idempotent), with the project's partitions and settings. Logical names. */
  ensureTopics(names: readonly string[]): Promise<void>;
  /**
   * Produces with the client's one shared idempotent producer (acks from all in-sync replicas, one
   * request in flight, so the order of sends is the order per partition). Resolves once Kafka has
   * acknowledged every message; throws after bounded retries. Creates missing topics first.
   */
  send(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Resolves when the cluster answers (bounded retries), for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function createKafka(options: KafkaOptions): KafkaClient {
  const prefix = options.topicPrefix ?? '';
  const partitions = options.partitions ?? DEFAULT_PARTITIONS;
  const replicationFactor = options.replicationFactor ?? 1;
  const logger = options.logger;
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(options.security?.sasl ? { sasl: options.security.sasl } : {}),
    ...(options.security?.ssl ? { ssl: options.security.ssl } : {}),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    // Bounded: about 3 s of retries per request, then the caller (relay, consumer) decides.
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, timestamp: _t, logger: _l, ...extra } = entry.log as LogEntry['log'] & { logger?: string };
      const fields = { kafkajs: entry.namespace, ...extra };
      if (entry.level <= logLevel.ERROR) logger.error(fields, `kafkajs: ${message}`);
      else logger.warn(fields, `kafkajs: ${message}`);
    },
  });

  /** Counts an emitter's broker requests (kafkajs' instrumentation events). */
  const counted = <T extends Producer | Consumer | Admin>(emitter: T): T => {
    const onRequest = options.onRequest;
    // The three emitters' `on` overloads differ only in their event names' types.
    if (onRequest) (emitter as Producer).on((emitter as Producer).events.REQUEST, (event: RequestEvent) => onRequest(event.payload.apiName));
    return emitter;
  };

  const ensured = new Set<string>();
  let producer: Promise<Producer> | undefined;
  let closed = false;

  const getProducer = (): Promise<Producer> => {
    if (closed) return Promise.reject(new Error('Kafka client is closed'));
    producer ??= (async () => {
      const created = counted(kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner, // murmur2, as Java clients: same key, same partition
      }));
      await created.connect();
      return created;
    })().catch((error: unknown) => {
      producer = undefined; // the next send tries again
      throw error;
    });
    return producer;
  };

  const withAdmin = async <T>(run: (admin: Admin) => Promise<T>): Promise<T> => {
    const admin = counted(kafka.admin());
    await admin.connect();
    try {
      return await run(admin);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  };

  const client: KafkaClient = {
    topicPrefix: prefix,
    topic: (name) => `${prefix}${name}`,
    groupId: (group) => `${prefix}${group}`,
    async ensureTopics(names) {
      if (closed) throw new Error('Kafka client is closed');
      const missing = [...new Set(names.map((name) => `${prefix}${name}`))].filter((topic) => !ensured.has(topic));
      if (missing.length === 0) return;
      await withAdmin(async (admin) => {
        const existing = new Set(await admin.listTopics());
        const create = missing.filter((topic) => !existing.has(topic));
        if (create.length > 0) {
          // Concurrent creators are fine: kafkajs treats TOPIC_ALREADY_EXISTS as success.
          await admin.createTopics({ waitForLeaders: false, topics: create.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })) });
        }
        // A new topic reaches the metadata a moment after its creation: until then the broker
        // answers UNKNOWN_TOPIC_OR_PARTITION (which kafkajs' own waitForLeaders does not retry).
        const deadline = Date.now() + 15_000;
        for (;;) {
          let problem: unknown;
          try {
            const { topics } = await admin.fetchTopicMetadata({ topics: missing });
            const ready = topics.length === missing.length && topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
            if (ready) return;
            problem = 'partitions without a leader';
          } catch (error) {
            problem = error;
          }
          if (Date.now() > deadline) throw new Error(`topics ${missing.join(', ')} not ready: ${errorMessage(problem)}`, { cause: problem });
          await sleep(100);
        }
      });
      for (const topic of missing) ensured.add(topic);
    },
    async send(messages) {
      if (closed) throw new Error('Kafka client is closed');
      if (messages.length === 0) return;
      await client.ensureTopics(messages.map((m) => m.topic));
      const byTopic = new Map<string, { key: Buffer | string | null; value: Buffer | string | null; headers?: IHeaders }[]>();
      for (const m of messages) {
        const topic = `${prefix}${m.topic}`;
        let list = byTopic.get(topic);
        if (!list) byTopic.set(topic, (list = []));
        list.push(m.headers ? { key: m.key, value: m.value, headers: m.headers } : { key: m.key, value: m.value });
      }
      const current = getProducer();
      const p = await current;
      try {
        await p.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })) });
      } catch (error) {
        // A failed idempotent producer can be left with sequence numbers the broker rejects from
        // then on; start the next send with a fresh producer (new producer id) instead.
        if (producer === current) {
          producer = undefined;
          void p.disconnect().catch(() => {});
        }
        throw error;
      }
    },
    async ping() {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          const cluster = await withAdmin((admin) => admin.describeCluster());
          if (cluster.brokers.length > 0) return;
          throw new Error('describeCluster listed no brokers');
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`Kafka (${options.brokers.join(',')}) does not answer: ${errorMessage(error)}`, { cause: error });
          await sleep(250);
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const p = producer;
      producer = undefined;
      if (p) await (await p.catch(() => undefined))?.disconnect().catch(() => {});
    },
  };
  registerInternals(client, { kafka, producer: getProducer, consumer: (config) => counted(kafka.consumer(config)), admin: () => counted(kafka.admin()) });
  return client;
}
