// Shared by the messaging integration tests and their child-process fixture; not part of the kit's API.
import type { EventData } from '@shopgraph/events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Orm } from '../db.ts';
import { createLogger, type Logger } from '../log.ts';
import { internalsOf } from './internal.ts';
import type { KafkaClient } from './kafka.ts';
import { messagingEntities, messagingMigration } from './outbox.ts';

/** Quiet unless TEST_LOG_LEVEL says otherwise (e.g. `TEST_LOG_LEVEL=debug`). */
export const testLogger = (name: string): Logger => createLogger(name, process.env.TEST_LOG_LEVEL ?? 'silent');

/**
 * An ORM with just the messaging tables; with `effects`, also `effect(event_id, n)`: how often a
 * handler's effect happened (a raw table, not an entity).
 */
export async function openMessagingDatabase(url: string, options: { effects?: boolean } = {}): Promise<Orm> {
  const orm = await openDatabase({ url, entities: messagingEntities, migrations: [messagingMigration], poolMax: 20 });
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
