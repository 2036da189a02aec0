import { z } from 'zod';

/** How a service reaches Kafka; `KAFKA_TOPIC_PREFIX` isolates test runs sharing one broker. */
export const kafkaConfig = z.object({
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092').transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  KAFKA_TOPIC_PREFIX: z.string().default(''),
});
export type KafkaConfig = z.infer<typeof kafkaConfig>;

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every topic name (test isolation). */
  topicPrefix?: string;
}

/** The project's handle on Kafka (kafkajs stays behind this adapter: it is unmaintained since 2023). */
export interface KafkaClient {
  readonly topicPrefix: string;
  /** The physical name of a logical topic. */
  topic(name: string): string;
  /** Creates the topics that do not exist yet (idempotent), with the project's partitions and settings. */
  ensureTopics(names: readonly string[]): Promise<void>;
  /** Resolves when the cluster answers (bounded retries), for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function createKafka(_options: KafkaOptions): KafkaClient {
  throw new Error('not implemented');
}
