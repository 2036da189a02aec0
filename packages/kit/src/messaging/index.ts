// Messaging plumbing every service shares: a Kafka client behind a thin adapter, topics, the
// transactional outbox and its relay, idempotent consumers with retries and a dead-letter topic,
// and broadcast (fan-out) consumers for in-process state. No domain logic lives here.
export * from './kafka.ts';
// Not the batch outbox's own open and write: only a transactionWithEvents pairs them safely.
export { messagingEntities, messagingMigrations, OUTBOX_CHANNEL, OutboxMessage, ProcessedMessage, recordEvent } from './outbox.ts';
export { transactionWithEvents } from './outbox-commits.ts';
export * from './relay.ts';
export * from './consumer.ts';
export * from './dead-letters.ts';
export * from './broadcast.ts';
export * from './metrics.ts';
