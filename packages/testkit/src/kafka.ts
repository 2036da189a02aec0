import { createKafka, type KafkaClient, type KafkaOptions } from '@shopgraph/kit';
import { internalsOf } from '@shopgraph/kit/messaging/internal';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { elasticsearchEnv } from './elasticsearch.ts';
import { redisEnv } from './redis.ts';

/** The brokers of the Kafka the global setup found or started. */
export function kafkaBrokers(): string[] {
  return inject('kafkaBrokers');
}

/** A new random topic (and consumer group) prefix, `t<hex>.`. */
export const uniqueTopicPrefix = (): string => `t${randomBytes(5).toString('hex')}.`;

/**
 * This test file's topic prefix: test files and runs sharing a broker never see each other's
 * topics. Every client of a file made without an explicit `topicPrefix` shares it.
 */
export const testTopicPrefix = uniqueTopicPrefix();

/** The env a service under test needs for Kafka: the test broker and this file's topic prefix. */
export const kafkaEnv = (): { KAFKA_BROKERS: string; KAFKA_TOPIC_PREFIX: string } => ({ KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: testTopicPrefix });

/**
 * The env of a service under test (for its config loader): its database, port 0, NODE_ENV=test,
 * `kafkaEnv()`, `redisEnv()` and `elasticsearchEnv()` (services that use no Redis or
 * Elasticsearch ignore them).
 */
export const serviceEnv = (databaseUrl: string): Record<string, string> => ({ DATABASE_URL: databaseUrl, PORT: '0', NODE_ENV: 'test', ...kafkaEnv(), ...redisEnv(), ...elasticsearchEnv() });

/** A kit Kafka client on the test broker, with this file's topic prefix unless told; close it when done. */
export function createTestKafka(clientId: string, options: Partial<Omit<KafkaOptions, 'brokers' | 'clientId'>> = {}): KafkaClient {
  return createKafka({ brokers: kafkaBrokers(), clientId, topicPrefix: testTopicPrefix, ...options });
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

export interface TopicReader {
  /** Everything read so far, in arrival order (per partition: offset order). */
  readonly messages: ReceivedMessage[];
  /** Resolves with the messages once `done(messages)` holds; rejects after timeoutMs (default 20 s). */
  waitFor(done: (messages: ReceivedMessage[]) => boolean, timeoutMs?: number): Promise<ReceivedMessage[]>;
  stop(): Promise<void>;
}

/**
 * Reads a logical topic of `kafka` from the beginning with a throwaway consumer group, for
 * assertions on what was published. Resolves once the reader has joined (so nothing is missed).
 */
export async function readTopic(kafka: KafkaClient, topic: string): Promise<TopicReader> {
  await kafka.ensureTopics([topic]);
  const consumer = internalsOf(kafka).kafka.consumer({
    groupId: kafka.groupId(`test-reader.${randomBytes(4).toString('hex')}`),
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  const messages: ReceivedMessage[] = [];
  const listeners = new Set<() => void>();
  await consumer.connect();
  await consumer.subscribe({ topic: kafka.topic(topic), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic: physical, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) if (value !== undefined) headers[name] = value.toString();
      messages.push({ topic: physical, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
      for (const listener of listeners) listener();
    },
  });
  return {
    messages,
    waitFor(done, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!done(messages)) return;
          cleanup();
          resolve(messages);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting on ${kafka.topic(topic)} (${messages.length} messages read)`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    stop: () => consumer.disconnect(),
  };
}
