import { contracts, parseEvent } from '@shopgraph/events';
import { createTestDatabase, createTestKafka, readTopic, testLogger, uniqueTopicPrefix } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Orm } from '../src/db.ts';
import type { KafkaClient } from '../src/messaging/kafka.ts';
import { recordEvent } from '../src/messaging/outbox.ts';
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

describe('messagingMigration', () => {
  it('creates exactly what the entities describe (the schema diff is empty), trigger included', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
    const triggers = await orm.em.getConnection().execute(`select tgname from pg_trigger where tgrelid = 'outbox_message'::regclass and not tgisinternal`);
    expect(triggers.map((t) => t.tgname)).toEqual(['outbox_message_notify']);
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

  it('wakes the relay at commit (NOTIFY), without waiting for its poll', async () => {
    const kafka = kafkaClient();
    const latencies: number[] = [];
    const relay = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 60_000, onPublished: (batch) => latencies.push(...batch.latencyMs) });
    try {
      await expect.poll(() => relay.leader).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the first cycle has run; it now waits for a NOTIFY (or 60 s)
      const started = Date.now();
      await orm.em.fork().transactional(async (em) => recordEvent(em, 'account.user.registered', 'user-c', userRegistered('notify'), { source: 'test' }));
      await expect.poll(() => latencies.length, { timeout: 5_000 }).toBe(1);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(latencies[0]).toBeGreaterThanOrEqual(0);
      expect(latencies[0]).toBeLessThan(3_000);
    } finally {
      await relay.stop();
    }
  });
});
