// Internal to the messaging module (not exported from the kit): the kafkajs objects behind a
// KafkaClient, for the consumer, the relay and the dead-letter tools. Services never see kafkajs.
import type { Kafka, Producer } from 'kafkajs';
import type { KafkaClient } from './kafka.ts';

export interface KafkaInternals {
  kafka: Kafka;
  /** The client's shared idempotent producer, connected on first use. */
  producer(): Promise<Producer>;
}

const internals = new WeakMap<KafkaClient, KafkaInternals>();

export function registerInternals(client: KafkaClient, value: KafkaInternals): void {
  internals.set(client, value);
}

export function internalsOf(client: KafkaClient): KafkaInternals {
  const found = internals.get(client);
  if (!found) throw new Error('not a KafkaClient made by createKafka');
  return found;
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message || error.name : String(error));
