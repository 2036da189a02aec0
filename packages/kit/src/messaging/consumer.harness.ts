// The setup the consumer and dead-letter integration tests share (imports vitest: tests only).
import { createEvent, type Envelope } from '@shopgraph/events';
import { createTestDatabase, createTestKafka, uniqueTopicPrefix } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import type { Orm } from '../db.ts';
import { startConsumer, type ConsumerOptions, type MessageOutcome } from './consumer.ts';
import type { KafkaClient, OutgoingMessage } from './kafka.ts';
import type { Runner } from './relay.ts';
import { EFFECT_SQL, openMessagingDatabase, testLogger, userRegistered } from './test-support.ts';

export const USERS = 'account.user.v1';
export const ORDERS = 'orders.order.v1';

export const registered = (key = 'user-1', name = 'n'): Envelope & { type: 'account.user.registered' } =>
  createEvent('account.user.registered', 'test', key, userRegistered(name));
export const message = (event: Envelope, topic = USERS): OutgoingMessage => ({ topic, key: event.subject, value: JSON.stringify(event), headers: { 'event-id': event.id } });

/**
 * Registers this file's hooks: one database (with the `effect` table) per file, a Kafka client
 * with a fresh topic prefix per test, consumers stopped after each test.
 */
export function consumerTestContext(file: string) {
  const logger = testLogger(`${file}-test`);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: Orm;
  let kafka: KafkaClient;
  let runners: Runner[] = [];
  const clients: KafkaClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(file);
    orm = await openMessagingDatabase(db.url, { effects: true });
  });
  beforeEach(() => {
    kafka = createTestKafka(`${file}-test`, { topicPrefix: uniqueTopicPrefix() });
    clients.push(kafka);
  });
  afterEach(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    runners = [];
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await orm?.close();
    await db?.drop();
  });

  /** Starts a consumer (group `test.<name>`) whose outcomes are collected; by default it counts the effect of account.user.registered. */
  async function consume(name: string, overrides: Partial<ConsumerOptions> = {}) {
    const outcomes: MessageOutcome[] = [];
    const calls = new Map<string, number>();
    const runner = await startConsumer({
      service: 'test',
      name,
      orm,
      kafka,
      logger,
      retry: { attempts: 3, initialBackoffMs: 10 },
      handlers: {
        'account.user.registered': async (event, em) => {
          calls.set(event.id, (calls.get(event.id) ?? 0) + 1);
          await em.execute(EFFECT_SQL, [event.id]);
        },
      },
      onMessage: (outcome) => outcomes.push(outcome),
      ...overrides,
    });
    runners.push(runner);
    const find = (id: string, result?: MessageOutcome['result']) => outcomes.find((o) => o.eventId === id && (!result || o.result === result));
    const outcomeOf = async (id: string, result?: MessageOutcome['result']): Promise<MessageOutcome> => {
      await expect.poll(() => find(id, result), { timeout: 20_000 }).toBeDefined();
      return find(id, result)!;
    };
    return { runner, outcomes, calls, outcomeOf };
  }

  /** How often each event's effect happened (events without effect are absent). */
  const effects = async (ids: string[]): Promise<Record<string, number>> => {
    const rows = await orm.em.getConnection().execute<{ event_id: string; n: number }[]>(`select event_id, n from effect where event_id in (${ids.map(() => '?').join(', ')})`, ids);
    return Object.fromEntries(rows.map((r) => [r.event_id, r.n]));
  };
  /** The event ids in processed_message for a consumer group. */
  const processedRows = async (group: string): Promise<string[]> =>
    (await orm.em.getConnection().execute<{ event_id: string }[]>('select event_id from processed_message where consumer = ? order by event_id', [group])).map((r) => r.event_id);

  return {
    consume,
    effects,
    processedRows,
    get kafka() {
      return kafka;
    },
    get databaseUrl() {
      return db.url;
    },
  };
}
