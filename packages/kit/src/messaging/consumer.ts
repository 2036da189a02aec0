import type { EventData, EventType, Envelope } from '@shopgraph/events';
import type { EntityManager, Orm } from '../db.ts';
import type { Logger } from '../log.ts';
import type { KafkaClient } from './kafka.ts';
import type { Runner } from './relay.ts';

/**
 * Handles one event inside a transaction: `em` is the transaction's EntityManager, and the
 * processed-message row is written in the same transaction, so the effect happens once however
 * often the event is delivered. Record follow-up events with `recordEvent(em, ...)`.
 * Throw to retry (with backoff); after the last attempt the message goes to the dead-letter topic.
 */
export type EventHandler<T extends EventType> = (event: Envelope<EventData<T>> & { type: T }, em: EntityManager) => Promise<void>;

export type EventHandlers = { [T in EventType]?: EventHandler<T> };

export interface ConsumerOptions {
  /** Consumer group `<service>.<name>`, e.g. `inventory.saga`. */
  service: string;
  name: string;
  orm: Orm;
  kafka: KafkaClient;
  logger: Logger;
  handlers: EventHandlers;
  /** Attempts before dead-lettering (default 5) and the first backoff delay (default 100 ms, doubling). */
  retry?: { attempts?: number; initialBackoffMs?: number };
}

/**
 * Subscribes to the topics of the handled event types. Messages of other types on those topics
 * are skipped (and recorded as processed); invalid ones (bad JSON, unknown type or version,
 * data failing its schema) go to the dead-letter topic at once with the reason in headers.
 */
export function startConsumer(_options: ConsumerOptions): Promise<Runner> {
  throw new Error('not implemented');
}
