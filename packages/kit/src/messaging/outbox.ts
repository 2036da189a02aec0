import type { MigrationObject } from '@mikro-orm/core';
import type { EventData, EventType, Envelope } from '@shopgraph/events';
import type { EntityManager } from '../db.ts';

/** Entities every service that publishes or consumes events adds to its ORM: outbox_message, processed_message. */
export const messagingEntities: unknown[] = [];

/** The migration creating those tables; a service appends it to its own migration list once. */
export const messagingMigration: MigrationObject = undefined as unknown as MigrationObject;

/**
 * Records an event in the outbox inside the caller's transaction (`em` must be the transaction's
 * EntityManager), so the state change and the event commit or roll back together. The relay
 * publishes it later. The envelope's subject is the aggregate id and the Kafka key.
 */
export function recordEvent<T extends EventType>(
  _em: EntityManager,
  _type: T,
  _subject: string,
  _data: EventData<T>,
  _options?: { source?: string; traceparent?: string },
): Envelope<EventData<T>> {
  throw new Error('not implemented');
}
