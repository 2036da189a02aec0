// Messaging plumbing every service shares: a Kafka client behind a thin adapter, topics, the
// transactional outbox and its relay, idempotent consumers with retries and a dead-letter topic,
// and broadcast (fan-out) consumers for in-process state. No domain logic lives here.
export * from './kafka.ts';
export * from './outbox.ts';
export { transactionWithEvents } from './outbox-commits.ts';
export * from './relay.ts';
export * from './consumer.ts';
export * from './dead-letters.ts';
export * from './broadcast.ts';
export * from './metrics.ts';
