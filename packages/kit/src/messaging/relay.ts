import type { Logger } from '../log.ts';
import type { Orm } from '../db.ts';
import type { KafkaClient } from './kafka.ts';

export interface RelayOptions {
  orm: Orm;
  kafka: KafkaClient;
  logger: Logger;
  batchSize?: number;
}

export interface Runner {
  stop(): Promise<void>;
}

/**
 * Publishes the outbox to Kafka in commit order per key, marks rows published, and survives
 * crashes (at-least-once: a row published but not yet marked is published again) and concurrent
 * relays (only one publishes at a time per database).
 */
export function startOutboxRelay(_options: RelayOptions): Promise<Runner> {
  throw new Error('not implemented');
}
