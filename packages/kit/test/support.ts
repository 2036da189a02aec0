// Shared by the kit's integration tests and the messaging crash fixture (imports vitest: tests only).
import { createEvent, type Envelope, type EventData } from '@shopgraph/events';
import { createTestDatabase, createTestKafka, testLogger, uniqueTopicPrefix } from '@shopgraph/testkit';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { openDatabase, type Orm } from '../src/db.ts';
import { startConsumer, type ConsumerOptions, type MessageOutcome } from '../src/messaging/consumer.ts';
import { internalsOf } from '../src/messaging/internal.ts';
import type { KafkaClient, OutgoingMessage } from '../src/messaging/kafka.ts';
import { messagingEntities, messagingMigrations } from '../src/messaging/outbox.ts';
import type { Runner } from '../src/messaging/relay.ts';

/**
 * An ORM with just the messaging tables; with `effects`, also `effect(event_id, n)`: how often a
 * handler's effect happened (a raw table, not an entity).
 */
export async function openMessagingDatabase(url: string, options: { effects?: boolean } = {}): Promise<Orm> {
  const orm = await openDatabase({ url, entities: messagingEntities, migrations: [...messagingMigrations], poolMax: 20 });
  if (options.effects) await orm.em.getConnection().execute('create table if not exists effect (event_id uuid primary key, n int not null)');
  return orm;
}

/** `account.user.registered` data; `name` carries a test's payload (e.g. a sequence number). */
export const userRegistered = (name: string, userId: string = crypto.randomUUID()): EventData<'account.user.registered'> => ({
  userId,
  email: `${userId}@example.test`,
  name,
});

/** Counts an effect; a second effect of one event shows as n = 2 instead of failing. */
export const EFFECT_SQL = 'insert into effect (event_id, n) values (?, 1) on conflict (event_id) do update set n = effect.n + 1';

/**
 * Runs messaging.fixture.ts in a child process (with this process's Node) and resolves when it
 * exits; `onReady` runs once it printed "ready".
 */
export function runFixture(mode: 'relay' | 'consumer', env: Record<string, string>, onReady?: () => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const script = fileURLToPath(new URL('./messaging.fixture.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, mode], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (onReady && output.includes('ready')) {
        onReady();
        onReady = undefined;
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
}

/** The ids of messages in first-arrival order (duplicates after the first dropped), grouped by key. */
export function firstArrivalsByKey(messages: { key: string | null; value: string | null }[]): Map<string, string[]> {
  const seen = new Set<string>();
  const byKey = new Map<string, string[]>();
  for (const message of messages) {
    const envelope = JSON.parse(message.value ?? 'null') as { id: string; data: { name: string } };
    if (seen.has(envelope.id)) continue;
    seen.add(envelope.id);
    const key = message.key ?? '';
    byKey.set(key, [...(byKey.get(key) ?? []), envelope.data.name]);
  }
  return byKey;
}

/** How many messages a (logical) topic holds: the sum of its partitions' high watermarks. */
export async function topicSize(kafka: KafkaClient, topic: string): Promise<number> {
  const admin = internalsOf(kafka).kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(kafka.topic(topic))).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}


export const USERS = 'account.user.v1';
export const ORDERS = 'orders.order.v1';

export const registered = (key = 'user-1', name = 'n'): Envelope & { type: 'account.user.registered' } =>
  createEvent('account.user.registered', 'accounts', key, userRegistered(name));
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
  const stopConsumers = async (): Promise<void> => {
    await Promise.all(runners.map((r) => r.stop()));
    runners = [];
  };
  afterEach(stopConsumers);
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
    stopConsumers,
    effects,
    processedRows,
    logger,
    get kafka() {
      return kafka;
    },
    get databaseUrl() {
      return db.url;
    },
    get orm() {
      return orm;
    },
  };
}
