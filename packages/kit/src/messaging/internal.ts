// Internal to the messaging module (not exported from the kit): the kafkajs objects behind a
// KafkaClient, for the consumer, the relay and the dead-letter tools. Services never see kafkajs.
import { contracts, type EventType } from '@shopgraph/events';
import type { Admin, Consumer, ConsumerConfig, Kafka, Producer } from 'kafkajs';
import type { Logger } from '@shopgraph/core/log';
import type { KafkaClient } from './kafka.ts';

export interface KafkaInternals {
  kafka: Kafka;
  /** The client's shared idempotent producer, connected on first use. */
  producer(): Promise<Producer>;
  /** A new consumer, or admin, whose requests are counted like the client's others (see KafkaOptions.onRequest). */
  consumer(config: ConsumerConfig): Consumer;
  admin(): Admin;
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

/**
 * kafkajs restarts a consumer after failures it deems retriable, and leaves it stopped (and
 * disconnected) after the others, e.g. a group coordinator it could not find while the broker was
 * loading: the service would stay ready with a consumer that never consumes again. This starts it
 * again with `start` (connect, subscribe, run), with backoff, until `cancel()`; each crash is logged.
 */
export function restartAfterCrashes(consumer: Consumer, start: () => Promise<void>, log: Logger): { cancel(): void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let restarts = 0;
  const restartLater = (): void => {
    if (cancelled) return;
    const delayMs = Math.min(30_000, 500 * 2 ** restarts++);
    timer = setTimeout(() => {
      start().then(
        () => log.warn({ attempt: restarts }, 'consumer restarted'),
        async (error: unknown) => {
          log.error({ err: error }, 'consumer restart failed; trying again');
          await consumer.disconnect().catch(() => {});
          restartLater();
        },
      );
    }, delayMs);
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log.error({ err: payload.error, restart: payload.restart }, payload.restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed; restarting it');
    if (!payload.restart) restartLater();
  });
  consumer.on(consumer.events.GROUP_JOIN, () => (restarts = 0));
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
