import { contracts } from '@shopgraph/events';
import { freePort } from '@shopgraph/infra';
import { createTestDatabase, createTestKafka, kafkaBrokers, readTopic, testLogger, uniqueTopicPrefix, type ReceivedMessage } from '@shopgraph/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Orm } from '../src/db.ts';
import { createKafka, type KafkaClient } from '../src/messaging/kafka.ts';
import { outboxCleaner } from '../src/messaging/outbox-cleaner.ts';
import { recordEvent } from '../src/messaging/outbox.ts';
import { startOutboxRelay, type RelayRunner } from '../src/messaging/relay.ts';
import { firstArrivalsByKey, openMessagingDatabase, runFixture, userRegistered } from './support.ts';

const logger = testLogger('relay-test');
const TOPIC = contracts['account.user.registered'].topic;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: Orm;
let kafka: KafkaClient; // a fresh topic prefix per test
const clients: KafkaClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase('relay');
  orm = await openMessagingDatabase(db.url);
});
beforeEach(async () => {
  await orm.em.getConnection().execute('truncate outbox_message');
  kafka = createTestKafka('relay-test', { topicPrefix: uniqueTopicPrefix() });
  clients.push(kafka);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await orm?.close();
  await db?.drop();
});

/** Records `<key>:<n>` as one committed transaction; returns the event id. */
const record = async (key: string, n: number): Promise<string> =>
  (await orm.em.fork().transactional(async (em) => recordEvent(em, 'account.user.registered', key, userRegistered(`${key}:${n}`), { source: 'test' }))).id;

const unpublished = async (): Promise<number> =>
  Number((await orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from outbox_message where published_at is null'))[0]!.n);

const expected = (keys: string[], perKey: number): Map<string, string[]> =>
  new Map(keys.map((key) => [key, Array.from({ length: perKey }, (_, n) => `${key}:${n}`)]));

const uniqueIds = (messages: ReceivedMessage[]): Set<string> => new Set(messages.map((m) => m.headers['event-id']!));

describe('startOutboxRelay', () => {
  it('publishes every event in order per key, each key on one partition, across many batches', async () => {
    const keys = ['order-1', 'order-2', 'order-3', 'order-4', 'order-5'];
    for (let n = 0; n < 30; n++) for (const key of keys) await record(key, n);
    const reader = await readTopic(kafka, TOPIC);
    const relay = await startOutboxRelay({ orm, kafka, logger, batchSize: 25, pollIntervalMs: 50 });
    try {
      const messages = await reader.waitFor((m) => uniqueIds(m).size === 150);
      expect(firstArrivalsByKey(messages)).toEqual(expected(keys, 30));
      for (const key of keys) expect(new Set(messages.filter((m) => m.key === key).map((m) => m.partition)).size).toBe(1);
      expect(new Set(messages.map((m) => m.partition)).size).toBeGreaterThan(1); // keys spread over the 3 partitions
      await expect.poll(unpublished).toBe(0);
    } finally {
      await relay.stop();
      await reader.stop();
    }
  });

  it('publishes a backlog once when it ends in a partial batch read ahead (every sent batch is marked)', async () => {
    for (let n = 0; n < 30; n++) await record('p1', n);
    const reader = await readTopic(kafka, TOPIC);
    const relay = await startOutboxRelay({ orm, kafka, logger, batchSize: 12, pollIntervalMs: 50 });
    try {
      await reader.waitFor((m) => uniqueIds(m).size === 30);
      await expect.poll(unpublished).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 300)); // a republished batch would show up by now
      const messages = await reader.waitFor(() => true);
      expect(messages).toHaveLength(30);
      expect(firstArrivalsByKey(messages)).toEqual(expected(['p1'], 30));
    } finally {
      await relay.stop();
      await reader.stop();
    }
  });

  it('deletes published rows a retention after their mark, a late commit below the cleaned range included, and no row before it is published', async () => {
    const published = new Set<string>();
    const relay = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 50, retentionMs: 300, cleanupIntervalMs: 50, afterSend: (batch) => void batch.ids.forEach((id) => published.add(id)) });
    const present = async (ids: string[]): Promise<string[]> =>
      (await orm.em.getConnection().execute<{ id: string }[]>('select id from outbox_message where id in (?)', [ids])).map((row) => row.id);
    // Takes its seq now and commits last: the rows after it are published and deleted first.
    const late = orm.em.fork();
    await late.begin();
    try {
      const lateEvent = recordEvent(late, 'account.user.registered', 'late', userRegistered('late'), { source: 'test' });
      await late.flush();
      const early: string[] = [];
      for (let n = 0; n < 20; n++) early.push(await record('early', n));
      await expect.poll(() => early.every((id) => published.has(id)), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => present(early), { timeout: 10_000 }).toEqual([]);
      await late.commit();
      await expect.poll(() => published.has(lateEvent.id), { timeout: 10_000 }).toBe(true);
      expect(await present([lateEvent.id])).toEqual([lateEvent.id]); // kept for the retention
      await expect.poll(() => present([lateEvent.id]), { timeout: 10_000 }).toEqual([]);
    } finally {
      await late.rollback().catch(() => {});
      await relay.stop();
    }
  });

  it('with two relays on one database, one publishes at a time; a stopped leader hands over; nothing lost, order kept', async () => {
    const published = { a: 0, b: 0 };
    const a = await startOutboxRelay({ orm, kafka, logger, batchSize: 20, pollIntervalMs: 20, lockRetryMs: 100, onPublished: (b) => (published.a += b.count) });
    let b: RelayRunner | undefined;
    let bothLeaders = 0;
    const monitor = setInterval(() => {
      if (a.leader && b?.leader) bothLeaders++;
    }, 5);
    const reader = await readTopic(kafka, TOPIC);
    try {
      await expect.poll(() => a.leader).toBe(true);
      b = await startOutboxRelay({ orm, kafka, logger, batchSize: 20, pollIntervalMs: 20, lockRetryMs: 100, onPublished: (batch) => (published.b += batch.count) });
      const keys = ['k1', 'k2', 'k3', 'k4'];
      // Writers per key run concurrently; each writes its key's events in order.
      let written = 0;
      const handover = (async () => {
        await expect.poll(() => written >= 60, { timeout: 20_000 }).toBe(true);
        await a.stop();
      })();
      await Promise.all(
        keys.map(async (key) => {
          for (let n = 0; n < 40; n++) {
            await record(key, n);
            written++;
          }
        }),
      );
      await handover;
      const messages = await reader.waitFor((m) => uniqueIds(m).size === 160);
      expect(firstArrivalsByKey(messages)).toEqual(expected(keys, 40));
      expect(bothLeaders).toBe(0);
      expect(b.leader).toBe(true);
      expect(published.a).toBeGreaterThan(0);
      expect(published.b).toBeGreaterThan(0);
      await expect.poll(unpublished).toBe(0);
    } finally {
      clearInterval(monitor);
      await a.stop();
      await b?.stop();
      await reader.stop();
    }
  });

  it('killed between sending a batch and marking it (SIGKILL): after a restart nothing is lost, the batch comes again', async () => {
    const keys = ['c1', 'c2', 'c3'];
    for (let n = 0; n < 10; n++) for (const key of keys) await record(key, n);
    const reader = await readTopic(kafka, TOPIC);
    const exit = await runFixture('relay', { DATABASE_URL: db.url, KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: kafka.topicPrefix, BATCH_SIZE: '12' });
    expect(exit.signal, exit.output).toBe('SIGKILL');
    // The first 12 reached Kafka, none was marked.
    await reader.waitFor((m) => m.length >= 12);
    expect(await unpublished()).toBe(30);

    const relay = await startOutboxRelay({ orm, kafka, logger, batchSize: 12, pollIntervalMs: 50 });
    try {
      const messages = await reader.waitFor((m) => uniqueIds(m).size === 30);
      expect(messages.length).toBe(42); // the crashed batch twice: at-least-once
      expect(firstArrivalsByKey(messages)).toEqual(expected(keys, 10));
      await expect.poll(unpublished).toBe(0);
    } finally {
      await relay.stop();
      await reader.stop();
    }
  });

  it('reconnects and takes the lock again when its database connection is killed', async () => {
    const reader = await readTopic(kafka, TOPIC);
    const relay = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 20, lockRetryMs: 100 });
    try {
      await expect.poll(() => relay.leader).toBe(true);
      for (let n = 0; n < 3; n++) await record('r1', n);
      await reader.waitFor((m) => uniqueIds(m).size === 3);
      const killed = await orm.em.getConnection().execute<{ killed: boolean }[]>(
        `select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = 'outbox-relay' and datname = current_database()`,
      );
      expect(killed).toEqual([{ killed: true }]);
      for (let n = 3; n < 6; n++) await record('r1', n);
      const messages = await reader.waitFor((m) => uniqueIds(m).size === 6);
      expect(firstArrivalsByKey(messages)).toEqual(expected(['r1'], 6));
      expect(relay.leader).toBe(true);
      await expect.poll(unpublished).toBe(0);
    } finally {
      await relay.stop();
      await reader.stop();
    }
  });

  it('keeps rows while Kafka is unreachable, holding on as publisher, and stops promptly', async () => {
    const down = createKafka({ brokers: [`127.0.0.1:${await freePort()}`], clientId: 'relay-test-down', topicPrefix: kafka.topicPrefix });
    clients.push(down);
    for (let n = 0; n < 5; n++) await record('d1', n);
    const relay = await startOutboxRelay({ orm, kafka: down, logger, pollIntervalMs: 20 });
    await expect.poll(() => relay.leader).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(relay.leader).toBe(true);
    expect(await unpublished()).toBe(5);
    const stopping = Date.now();
    await relay.stop();
    expect(Date.now() - stopping).toBeLessThan(8_000);

    // Kafka "back" (a client that reaches it): the same rows go out, in order.
    const reader = await readTopic(kafka, TOPIC);
    const recovered = await startOutboxRelay({ orm, kafka, logger, pollIntervalMs: 20 });
    try {
      const messages = await reader.waitFor((m) => uniqueIds(m).size === 5);
      expect(firstArrivalsByKey(messages)).toEqual(expected(['d1'], 5));
      await expect.poll(unpublished).toBe(0);
    } finally {
      await recovered.stop();
      await reader.stop();
    }
  });
});

describe('outboxCleaner', () => {
  it('deletes the published rows up to what was marked a retention ago, never an unpublished one, and a late mark below what it cleaned', async () => {
    const seqs: string[] = [];
    for (let n = 0; n < 5; n++) {
      await record('clean', n);
      seqs.push((await orm.em.getConnection().execute<{ seq: string }[]>('select max(seq)::text as seq from outbox_message'))[0]!.seq);
    }
    const [s1, s2, s3, s4, s5] = seqs as [string, string, string, string, string];
    const publish = (marked: string[]) => orm.em.getConnection().execute('update outbox_message set published_at = now() where seq in (?)', [marked]);
    const left = async () => (await orm.em.getConnection().execute<{ seq: string }[]>('select seq::text as seq from outbox_message order by seq')).map((row) => row.seq);
    // Cleaned when the test says (its own runs are a minute apart).
    const cleaner = outboxCleaner({ clientConfig: { connectionString: db.url }, retentionMs: 1, intervalMs: 60_000, startAfter: '0', logger });
    const cleanNow = async () => {
      await new Promise((resolve) => setTimeout(resolve, 10)); // past the retention
      await cleaner.clean();
    };
    try {
      await publish([s1, s2, s4, s5]);
      cleaner.marked([s1, s2, s4, s5]);
      await cleanNow();
      expect(await left()).toEqual([s3]);
      await publish([s3]);
      cleaner.marked([s3]);
      await cleanNow();
      expect(await left()).toEqual([]);
    } finally {
      await cleaner.stop();
    }
  });
});
