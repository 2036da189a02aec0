import { createTestKafka, testLogger, uniqueTopicPrefix } from '@shopgraph/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroadcastConsumer, type BroadcastHandlers, type BroadcastOutcome, type BroadcastRunner } from '../src/messaging/broadcast.ts';
import { message, registered, USERS } from './support.ts';
import { deadLetterTopic } from '../src/messaging/dead-letters.ts';
import { internalsOf } from '../src/messaging/internal.ts';
import type { KafkaClient } from '../src/messaging/kafka.ts';

const logger = testLogger('broadcast-test');
let kafka: KafkaClient;
let runners: BroadcastRunner[] = [];

beforeEach(() => {
  kafka = createTestKafka('broadcast-test', { topicPrefix: uniqueTopicPrefix() });
});
afterEach(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  runners = [];
  await kafka.close();
});

/** A broadcast consumer (`test.live.<random>`) recording the names of the users registered, and its outcomes. */
async function start(handlers?: BroadcastHandlers) {
  const names: string[] = [];
  const outcomes: BroadcastOutcome[] = [];
  const runner = await startBroadcastConsumer({
    service: 'test',
    name: 'live',
    kafka,
    logger,
    handlers: handlers ?? { 'account.user.registered': (event) => void names.push(event.data.name) },
    onMessage: (outcome) => outcomes.push(outcome),
  });
  runners.push(runner);
  return { runner, names, outcomes };
}

const groups = async (): Promise<string[]> => {
  const admin = internalsOf(kafka).kafka.admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
};

describe('startBroadcastConsumer', () => {
  it('gives every process every event published after it started, each in a group of its own', async () => {
    await kafka.send([message(registered('u-0', 'before'))]);
    const [a, b] = [await start(), await start()];
    expect(a.runner.group).toMatch(/^test\.live\.[0-9a-f]{12}$/);
    expect(a.runner.group).not.toBe(b.runner.group);

    const events = Array.from({ length: 12 }, (_, i) => registered(`u-${i % 3}`, String(i)));
    await kafka.send(events.map((e) => message(e)));
    const nameOf = (e: (typeof events)[number]) => (e.data as { name: string }).name;
    const names = events.map(nameOf);
    for (const consumer of [a, b]) {
      await expect.poll(() => consumer.names.length, { timeout: 20_000 }).toBe(12);
      // Per key (partition) in order; what came before the start is not replayed.
      expect([...consumer.names].sort((x, y) => Number(x) - Number(y))).toEqual(names);
      for (const key of ['u-0', 'u-1', 'u-2']) {
        const ofKey = events.filter((e) => e.subject === key).map(nameOf);
        expect(consumer.names.filter((n) => ofKey.includes(n))).toEqual(ofKey);
      }
      expect(consumer.names).not.toContain('before');
    }
  });

  it('skips invalid messages and failing handlers: no retry, no dead-letter topic, later events still come', async () => {
    let failures = 0;
    const { outcomes, names } = await start({
      'account.user.registered': (event) => {
        if (event.data.name === 'boom') {
          failures++;
          throw new Error('boom');
        }
        names.push(event.data.name);
      },
    });
    const boom = registered('u-1', 'boom');
    const after = registered('u-1', 'after');
    await kafka.send([{ topic: USERS, key: 'u-1', value: 'not json' }, message(boom), message(after)]);
    await expect.poll(() => names, { timeout: 20_000 }).toEqual(['after']);
    expect(failures).toBe(1);
    expect(outcomes.map((o) => o.result)).toEqual(['invalid', 'failed', 'delivered']);
    expect(await groups()).not.toContain(kafka.groupId(deadLetterTopic('test.live')));
    const topics = await internalsOf(kafka).kafka.admin();
    await topics.connect();
    try {
      expect((await topics.listTopics()).filter((t) => t.startsWith(kafka.topicPrefix) && t.endsWith('.dlq'))).toEqual([]);
    } finally {
      await topics.disconnect();
    }
  });

  it('deletes its consumer group when stopped', async () => {
    const { runner } = await start();
    expect(await groups()).toContain(kafka.groupId(runner.group));
    runners.splice(runners.indexOf(runner), 1);
    await runner.stop();
    expect(await groups()).not.toContain(kafka.groupId(runner.group));
  });
});
