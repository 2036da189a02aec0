import { contracts, parseEvent } from '@shopgraph/events';
import { createTestDatabase, createTestKafka, readTopic, testLogger, uniqueTopicPrefix } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { EntityManager, Orm } from '../src/db.ts';
import type { KafkaClient } from '../src/messaging/kafka.ts';
import { OUTBOX_CHANNEL, recordEvent } from '../src/messaging/outbox.ts';
import { startOutboxRelay } from '../src/messaging/relay.ts';
import { openMessagingDatabase, userRegistered } from './support.ts';

const logger = testLogger('outbox-test');
const TOPIC = contracts['account.user.registered'].topic;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: Orm;
const clients: KafkaClient[] = [];
const kafkaClient = (): KafkaClient => {
  const client = createTestKafka('outbox-test', { topicPrefix: uniqueTopicPrefix() });
  clients.push(client);
  return client;
};

beforeAll(async () => {
  db = await createTestDatabase('outbox');
  orm = await openMessagingDatabase(db.url);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await orm?.close();
  await db?.drop();
});

const rows = (): Promise<{ id: string; key: string; topic: string; type: string; published: boolean }[]> =>
  orm.em.getConnection().execute('select id, key, topic, type, published_at is not null as published from outbox_message order by seq');

describe('messagingMigrations', () => {
  it('create exactly what the entities describe (the schema diff is empty), with no notify trigger left', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
    const triggers = await orm.em.getConnection().execute(`select tgname from pg_trigger where tgrelid = 'outbox_message'::regclass and not tgisinternal`);
    expect(triggers).toEqual([]);
    const index = await orm.em.getConnection().execute(`select indexdef from pg_indexes where indexname = 'outbox_message_unpublished_index'`);
    expect(index[0]?.indexdef).toMatch(/WHERE \(published_at IS NULL\)/);
  });
});

describe('recordEvent', () => {
  it('throws on data failing the contract, before anything is written', async () => {
    const before = (await rows()).length;
    await expect(
      orm.em.fork().transactional(async (em) => {
        recordEvent(em, 'account.user.registered', 'u1', { userId: 'not-a-uuid', email: 'x', name: 'y' });
      }),
    ).rejects.toThrow(/userId/);
    expect((await rows()).length).toBe(before);
  });

  it('publishes what commits and nothing of a rolled-back transaction', async () => {
    const kafka = kafkaClient();
    const reader = await readTopic(kafka, TOPIC);
    const relay = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 50 });
    try {
      const committed = await orm.em.fork().transactional(async (em) => recordEvent(em, 'account.user.registered', 'user-a', userRegistered('committed'), { source: 'test', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }));
      let rolledBack: string | undefined;
      await expect(
        orm.em.fork().transactional(async (em) => {
          rolledBack = recordEvent(em, 'account.user.registered', 'user-b', userRegistered('rolled back'), { source: 'test' }).id;
          await em.flush(); // the row is written inside the transaction...
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      // ...and gone with it. A later commit is published; the rolled-back event never is.
      const later = await orm.em.fork().transactional(async (em) => recordEvent(em, 'account.user.registered', 'user-a', userRegistered('later'), { source: 'test' }));
      const messages = await reader.waitFor((m) => m.some((x) => x.headers['event-id'] === later.id));
      expect(messages.map((m) => m.headers['event-id'])).toEqual([committed.id, later.id]);
      expect(messages.map((m) => m.headers['event-id'])).not.toContain(rolledBack);

      const first = messages[0]!;
      expect(first.topic).toBe(kafka.topic(TOPIC));
      expect(first.key).toBe('user-a');
      expect(first.headers).toMatchObject({ 'event-type': 'account.user.registered', traceparent: committed.traceparent });
      expect(parseEvent(first.value)).toEqual(committed);
      // Rows are marked published after Kafka acknowledged them, so a reader may see them first.
      await expect.poll(rows).toEqual([
        { id: committed.id, key: 'user-a', topic: TOPIC, type: 'account.user.registered', published: true },
        { id: later.id, key: 'user-a', topic: TOPIC, type: 'account.user.registered', published: true },
      ]);
    } finally {
      await relay.stop();
      await reader.stop();
    }
  });

  it('wakes its relay after each commit that recorded events (top level, in a savepoint, a flush of its own), with no NOTIFY in the transaction', async () => {
    const kafka = kafkaClient();
    const latencies: number[] = [];
    const relay = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 60_000, onPublished: (batch) => latencies.push(...batch.latencyMs) });
    // A NOTIFY from a writing transaction would reach any listener; the publisher is in this process, so none is sent.
    const listener = new pg.Client({ connectionString: db.url });
    const notifications: string[] = [];
    listener.on('notification', (message) => notifications.push(message.channel));
    await listener.connect();
    await listener.query(`listen ${OUTBOX_CHANNEL}`);
    const record = (em: EntityManager, name: string) => recordEvent(em, 'account.user.registered', 'user-c', userRegistered(name), { source: 'test' });
    const published = async (count: number, started: number) => {
      await expect.poll(() => latencies.length, { timeout: 5_000 }).toBe(count);
      // Well before the 60 s poll.
      expect(Date.now() - started).toBeLessThan(3_000);
    };
    try {
      await expect.poll(() => relay.leader).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the first cycle has run; it now waits to be woken (or 60 s)
      let started = Date.now();
      await orm.em.fork().transactional(async (em) => record(em, 'top level'));
      await published(1, started);

      started = Date.now();
      await orm.em.fork().transactional(async (outer) => {
        await outer.transactional(async (savepoint) => record(savepoint, 'in a savepoint'));
        // Released, not committed: nothing to see for the relay until the outer commit.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(latencies.length).toBe(1);
      });
      await published(2, started);

      started = Date.now();
      const em = orm.em.fork();
      record(em, 'flushed alone');
      await em.flush();
      await published(3, started);
      expect(notifications).toEqual([]);
    } finally {
      await listener.end();
      await relay.stop();
    }
  });

  it("wakes the publisher in another process by a NOTIFY sent after the commit, when its own relay is on standby", async () => {
    const kafka = kafkaClient();
    const other = await openMessagingDatabase(db.url);
    const published: string[] = [];
    const publisher = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 60_000, afterSend: (batch) => void published.push(...batch.ids) });
    await expect.poll(() => publisher.leader).toBe(true);
    const standby = await startOutboxRelay({ orm: other, kafka, logger, pollIntervalMs: 60_000, lockRetryMs: 60_000 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(standby.leader).toBe(false);
      const started = Date.now();
      const event = await other.em.fork().transactional(async (em) => recordEvent(em, 'account.user.registered', 'user-d', userRegistered('from a standby'), { source: 'test' }));
      await expect.poll(() => published, { timeout: 5_000 }).toContain(event.id);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await standby.stop();
      await publisher.stop();
      await other.close();
    }
  });
});
