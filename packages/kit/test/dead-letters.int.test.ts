import { repoRoot } from '@shopgraph/infra';
import { kafkaBrokers, readTopic } from '@shopgraph/testkit';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ConsumerOptions } from '../src/messaging/consumer.ts';
import { consumerTestContext, message, registered, USERS } from './support.ts';
import { deadLetterTopic, replayDeadLetters } from '../src/messaging/dead-letters.ts';
import type { OutgoingMessage } from '../src/messaging/kafka.ts';
import { EFFECT_SQL } from './support.ts';

const t = consumerTestContext('deadletters');
const { consume, effects, processedRows } = t;

describe('dead-lettering', () => {
  it('dead-letters invalid messages at once with the reason in headers, and goes on with the partition', async () => {
    const valid = registered('poison-key', 'valid');
    const unknownType = { ...registered('poison-key'), type: 'account.user.deleted' };
    const badData = { ...registered('poison-key'), data: { userId: 'not-a-uuid', email: 'x', name: 'y' } };
    const badVersion = { ...registered('poison-key'), dataVersion: 9 };
    const poison: OutgoingMessage[] = [
      { topic: USERS, key: 'poison-key', value: '{"not json', headers: { origin: 'kept' } },
      { topic: USERS, key: 'poison-key', value: JSON.stringify(unknownType) },
      { topic: USERS, key: 'poison-key', value: JSON.stringify(badData) },
      { topic: USERS, key: 'poison-key', value: JSON.stringify(badVersion) },
    ];
    await t.kafka.send([...poison, message(valid)]);
    const dlq = await readTopic(t.kafka, deadLetterTopic('test.poison'));
    try {
      const { outcomeOf, calls } = await consume('poison');
      const processed = await outcomeOf(valid.id);
      expect(processed.result).toBe('processed');
      const letters = await dlq.waitFor((m) => m.length === 4);
      expect(letters.map((l) => l.value)).toEqual(poison.map((p) => p.value));
      expect(letters.map((l) => l.key)).toEqual(Array(4).fill('poison-key'));
      expect(letters.map((l) => l.headers['x-error'])).toEqual([
        expect.stringMatching(/not JSON/),
        expect.stringMatching(/unknown event type "account.user.deleted"/),
        expect.stringMatching(/invalid account.user.registered data: userId/),
        expect.stringMatching(/dataVersion 9 is not supported/),
      ]);
      for (const letter of letters) {
        expect(letter.headers).toMatchObject({
          'x-error-type': 'InvalidEvent',
          'x-attempts': '0',
          'x-origin-topic': t.kafka.topic(USERS),
          'x-origin-partition': String(processed.partition),
          'x-consumer-group': 'test.poison',
        });
        expect(new Date(letter.headers['x-failed-at']!).getTime()).toBeGreaterThan(Date.now() - 60_000);
      }
      expect(letters[0]!.headers['origin']).toBe('kept');
      const offsets = letters.map((l) => BigInt(l.headers['x-origin-offset']!));
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
      expect(BigInt(processed.offset)).toBeGreaterThan(offsets[3]!);
      expect([...calls.keys()]).toEqual([valid.id]);
    } finally {
      await dlq.stop();
    }
  });

  it('dead-letters a message whose handler always fails, after the configured attempts, and goes on', async () => {
    const doomed = registered('user-f', 'doomed');
    const next = registered('user-f', 'next');
    await t.kafka.send([message(doomed), message(next)]);
    const dlq = await readTopic(t.kafka, deadLetterTopic('test.doomed'));
    try {
      const { outcomeOf, calls } = await consume('doomed', {
        retry: { attempts: 3, initialBackoffMs: 10 },
        handlers: {
          'account.user.registered': async (e, em) => {
            calls.set(e.id, (calls.get(e.id) ?? 0) + 1);
            await em.execute(EFFECT_SQL, [e.id]);
            if (e.data.name === 'doomed') throw new TypeError('boom');
          },
        },
      });
      expect(await outcomeOf(doomed.id)).toMatchObject({ result: 'dead-lettered', attempts: 3, error: 'boom' });
      expect((await outcomeOf(next.id)).result).toBe('processed');
      expect(calls.get(doomed.id)).toBeOneOf([3, 4]); // its 3 attempts alone, after one in its batch (rolled back) when the fetch brought both
      const [letter] = await dlq.waitFor((m) => m.length === 1);
      expect(letter!.key).toBe('user-f');
      expect(letter!.value).toBe(JSON.stringify(doomed));
      expect(letter!.headers).toMatchObject({ 'x-error': 'boom', 'x-error-type': 'TypeError', 'x-attempts': '3', 'event-id': doomed.id, 'x-consumer-group': 'test.doomed' });
      expect(await effects([doomed.id, next.id])).toEqual({ [next.id]: 1 });
      expect(await processedRows('test.doomed')).toEqual([next.id]);
    } finally {
      await dlq.stop();
    }
  });
});

describe('replayDeadLetters', () => {
  it('brings dead letters back to their topic; once the cause is fixed they are processed; a second replay finds nothing', async () => {
    let broken = true;
    const handler: ConsumerOptions['handlers'] = {
      'account.user.registered': async (e, em) => {
        if (broken) throw new Error('dependency down');
        await em.execute(EFFECT_SQL, [e.id]);
      },
    };
    const event = registered('user-d', 'replayed');
    await t.kafka.send([message(event)]);
    const origin = await readTopic(t.kafka, USERS);
    try {
      const { outcomeOf } = await consume('replay', { retry: { attempts: 2, initialBackoffMs: 10 }, handlers: handler });
      expect((await outcomeOf(event.id)).result).toBe('dead-lettered');

      broken = false; // the cause is fixed
      expect(await replayDeadLetters(t.kafka, 'test.replay')).toBe(1);
      expect(await outcomeOf(event.id, 'processed')).toMatchObject({ attempts: 1 });
      expect(await effects([event.id])).toEqual({ [event.id]: 1 });
      const copies = await origin.waitFor((m) => m.length === 2);
      expect(copies[1]!.value).toBe(copies[0]!.value);
      expect(copies[1]!.key).toBe('user-d');
      expect(copies[1]!.headers['x-replayed-from']).toMatch(new RegExp(`^${t.kafka.topic('test.replay.dlq').replaceAll('.', '\\.')}:\\d+:0$`));
      expect(copies[1]!.headers['event-id']).toBe(event.id);
      expect(Object.keys(copies[1]!.headers).filter((h) => h.startsWith('x-') && h !== 'x-replayed-from')).toEqual([]);

      expect(await replayDeadLetters(t.kafka, 'test.replay')).toBe(0); // resumes after what it replayed
    } finally {
      await origin.stop();
    }
  });

  it('runs as a CLI: bin/dlq-replay.ts <group> prints the count', async () => {
    let broken = true;
    const event = registered('user-cli', 'cli');
    await t.kafka.send([message(event)]);
    const { outcomeOf } = await consume('cli', {
      retry: { attempts: 1 },
      handlers: {
        'account.user.registered': async (e, em) => {
          if (broken) throw new Error('not yet');
          await em.execute(EFFECT_SQL, [e.id]);
        },
      },
    });
    expect((await outcomeOf(event.id)).result).toBe('dead-lettered');
    broken = false;
    const env = { ...process.env, KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: t.kafka.topicPrefix };
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [join(repoRoot(), 'packages/kit/bin/dlq-replay.ts'), 'test.cli'], { env });
    expect(stdout).toMatch(/^replayed 1 dead letter\(s\) of test\.cli/);
    expect((await outcomeOf(event.id, 'processed')).result).toBe('processed');
    await expect(run(process.execPath, [join(repoRoot(), 'packages/kit/bin/dlq-replay.ts'), 'test.nope'], { env })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no dead-letter topic .*test\.nope\.dlq/),
    });
  });
});
