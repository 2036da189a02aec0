// Internal to the messaging module (not exported from the kit): the kafkajs objects behind a
// KafkaClient, for the consumer, the relay and the dead-letter tools. Services never see kafkajs.
import { contracts, type EventType } from '@shopgraph/events';
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

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message || error.name : String(error));

/** The topics a consumer's handlers subscribe it to, sorted; refuses handlers of no type or of unknown types. */
export function topicsHandled(handlers: { [T in EventType]?: unknown }, consumer: string): string[] {
  const handledTypes = (Object.keys(handlers) as EventType[]).filter((type) => handlers[type]);
  if (handledTypes.length === 0) throw new Error(`${consumer} handles no event types`);
  const unknown = handledTypes.filter((type) => !Object.hasOwn(contracts, type));
  if (unknown.length > 0) throw new Error(`${consumer} handles unknown event types: ${unknown.join(', ')}`);
  return [...new Set(handledTypes.map((type) => contracts[type].topic))].sort();
}
