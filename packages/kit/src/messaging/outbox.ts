import type { MigrationObject } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { contracts, createEvent, type EventData, type EventType, type Envelope } from '@shopgraph/events';
import { serviceOf, type EntityManager } from '../db.ts';
import { currentTraceparent } from '@shopgraph/core/tracing';

/** The Postgres channel the relay LISTENs on: a process whose relay is not the publisher wakes the one that is. */
export const OUTBOX_CHANNEL = 'outbox';

/**
 * One event waiting to be (or already) published. `seq` is the publish order; `id` is the
 * envelope id consumers dedupe on. `topic` is the logical topic (no test prefix).
 */
export const OutboxMessage = defineEntity({
  name: 'OutboxMessage',
  tableName: 'outbox_message',
  properties: {
    seq: p.bigint('number').primary().autoincrement(),
    id: p.uuid().unique(),
    topic: p.string(),
    key: p.string(),
    type: p.string(),
    envelope: p.json<Envelope>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    publishedAt: p.datetime().nullable(),
  },
  // The relay's query: unpublished rows in seq order. Published rows are the bulk of the table and
  // are never in this index.
  indexes: [{ name: 'outbox_message_unpublished_index', properties: ['seq'], where: 'published_at is null' }],
});
export type OutboxMessage = InferEntity<typeof OutboxMessage>;

/** An event a consumer group has handled; written in the same transaction as the handler's effect. */
export const ProcessedMessage = defineEntity({
  name: 'ProcessedMessage',
  tableName: 'processed_message',
  properties: {
    consumer: p.string().primary(),
    eventId: p.uuid().primary(),
    processedAt: p.datetime().onCreate(() => new Date()),
  },
  primaryKeys: ['consumer', 'eventId'],
});
export type ProcessedMessage = InferEntity<typeof ProcessedMessage>;

/** Entities every service that publishes or consumes events adds to its ORM: outbox_message, processed_message. */
export const messagingEntities = [OutboxMessage, ProcessedMessage];

/** Creates outbox_message (+ its partial index and a notify trigger, which the next migration drops) and processed_message. */
class MessagingMigration extends Migration {
  override up(): void {
    this.addSql(
      `create table "outbox_message" ("seq" bigserial primary key, "id" uuid not null, "topic" varchar(255) not null, "key" varchar(255) not null, "type" varchar(255) not null, "envelope" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null);`,
    );
    this.addSql(`alter table "outbox_message" add constraint "outbox_message_id_unique" unique ("id");`);
    this.addSql(`create index "outbox_message_unpublished_index" on "outbox_message" ("seq") where published_at is null;`);
    this.addSql(
      `create or replace function "outbox_message_outbox_message_notify_fn"() returns trigger as $$ begin perform pg_notify('${OUTBOX_CHANNEL}', ''); return null; end; $$ language plpgsql;`,
    );
    this.addSql(
      `create trigger "outbox_message_notify" after insert on "outbox_message" for each statement execute function "outbox_message_outbox_message_notify_fn"();`,
    );
    this.addSql(
      `create table "processed_message" ("consumer" varchar(255) not null, "event_id" uuid not null, "processed_at" timestamptz not null, primary key ("consumer", "event_id"));`,
    );
  }
}

/**
 * Drops the outbox's notify trigger: its NOTIFY held Postgres's cluster-wide notify lock through
 * every event-recording commit. The relay is now woken after the commit (see `outboxCommits`).
 */
class RelayWokenAfterCommit extends Migration {
  override up(): void {
    this.addSql(`drop trigger if exists "outbox_message_notify" on "outbox_message";`);
    this.addSql(`drop function if exists "outbox_message_outbox_message_notify_fn"();`);
  }
}

/**
 * The migrations of those tables, in order; a service spreads them once into its own list
 * (anywhere: they only touch their own tables). Never edit one: the kit appends a new one.
 */
export const messagingMigrations: readonly MigrationObject[] = [
  { name: '0000-messaging', class: MessagingMigration },
  { name: '0000-messaging-relay-woken-after-commit', class: RelayWokenAfterCommit },
];

/**
 * Records an event in the outbox inside the caller's transaction (`em` must be the transaction's
 * EntityManager), so the state change and the event commit or roll back together. The relay
 * publishes it later. The envelope's subject is the aggregate id and the Kafka key; its source is
 * the service that owns the database (`openDatabase({ service })`, which `runService` sets), so
 * domain code never names itself.
 *
 * Nothing is written here: the row is `em.persist`ed and reaches the database with the caller's
 * next flush, i.e. when `em.transactional(...)` completes (or an explicit `em.flush()`, which is
 * one transaction too). In a `transactionWithEvents` (every consumer's batch runs in one) it is
 * kept instead, and the transaction's rows are written in one statement before it commits. Invalid data
 * throws here, before anything is kept. The commit wakes the service's relay (`outboxCommits`), so
 * publication starts without waiting for its poll.
 *
 * Per-key order is `seq` order. For events of one aggregate that equals commit order as long as
 * writers of that aggregate serialise on it before recording (a row lock or version check), which
 * the domain needs anyway to avoid lost updates.
 */
export function recordEvent<T extends EventType>(
  em: EntityManager,
  type: T,
  subject: string,
  data: EventData<T>,
  options: { source?: string; traceparent?: string } = {},
): Envelope<EventData<T>> {
  // The trace it is recorded in (a request, a consumer's handling) continues wherever it is consumed.
  const envelope = createEvent(type, options.source ?? serviceOf(em) ?? defaultSource(), subject, data, options.traceparent ?? currentTraceparent());
  const row = { id: envelope.id, topic: contracts[type].topic, key: subject, type, envelope, publishedAt: null };
  const batch = batchOutboxes.get(em);
  if (batch) batch.push(row);
  else em.persist(em.create(OutboxMessage, row));
  return envelope;
}

type OutboxRow = { id: string; topic: string; key: string; type: string; envelope: Envelope };

/** The rows recorded in each `transactionWithEvents` open now, by its EntityManager. */
const batchOutboxes = new WeakMap<EntityManager, OutboxRow[]>();

/** From now on, events recorded through `em` (a transaction's) are kept for `writeBatchOutbox`. */
export function openBatchOutbox(em: EntityManager): void {
  batchOutboxes.set(em, []);
}

/**
 * Writes the events recorded through `em` since `openBatchOutbox`, in the order recorded, in one
 * statement (a transaction's events then cost one insert, not one ORM flush each); answers how many.
 */
export async function writeBatchOutbox(em: EntityManager): Promise<number> {
  const rows = batchOutboxes.get(em) ?? [];
  batchOutboxes.delete(em);
  if (!rows.length) return 0;
  const now = new Date();
  await em.execute(
    `insert into outbox_message (id, topic, key, type, envelope, created_at) values ${rows.map(() => '(?, ?, ?, ?, ?::jsonb, ?)').join(', ')}`,
    rows.flatMap((row) => [row.id, row.topic, row.key, row.type, JSON.stringify(row.envelope), now]),
  );
  return rows.length;
}

/** The source of events recorded through a database no service owns (scripts, tests): `SERVICE_NAME`/`OTEL_SERVICE_NAME` if set, else the package. */
function defaultSource(): string {
  return process.env.SERVICE_NAME ?? process.env.OTEL_SERVICE_NAME ?? process.env.npm_package_name ?? 'shopgraph';
}
