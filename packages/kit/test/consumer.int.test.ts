import { createEvent } from '@shopgraph/events';
import { kafkaBrokers } from '@shopgraph/testkit';
import { describe, expect, it } from 'vitest';
import { consumerTestContext, message, ORDERS, registered } from './support.ts';
import { deadLetterTopic } from '../src/messaging/dead-letters.ts';
import { EFFECT_SQL, runFixture, topicSize } from './support.ts';

const t = consumerTestContext('consumer');
const { consume, effects, processedRows } = t;

describe('startConsumer', () => {
  it('applies the effect of an event once, however often it is delivered', async () => {
    const events = Array.from({ length: 20 }, (_, i) => registered(`user-${i % 4}`, String(i)));
    await t.kafka.send(events.map((e) => message(e)));
    await t.kafka.send(events.map((e) => message(e))); // every event a second time
    const { outcomes, calls } = await consume('dupes');
    await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(40);
    expect(outcomes.filter((o) => o.result === 'processed')).toHaveLength(20);
    expect(outcomes.filter((o) => o.result === 'duplicate')).toHaveLength(20);
    expect([...calls.values()]).toEqual(Array(20).fill(1));
    expect(await effects(events.map((e) => e.id))).toEqual(Object.fromEntries(events.map((e) => [e.id, 1])));
    expect(await processedRows('test.dupes')).toEqual(events.map((e) => e.id).sort());
  });

  it('killed (SIGKILL) after its transaction committed but before the offset commit: the effect stays single after restart', async () => {
    const first = registered('user-k', 'first');
    const second = registered('user-k', 'second');
    await t.kafka.send([message(first), message(second)]);
    const exit = await runFixture('consumer', { DATABASE_URL: t.databaseUrl, KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: t.kafka.topicPrefix, GROUP_NAME: 'crash' });
    expect(exit.signal, exit.output).toBe('SIGKILL');
    expect(await effects([first.id, second.id])).toEqual({ [first.id]: 1 }); // committed, then died

    // The same group again: the uncommitted offset brings `first` back; processed_message stops it.
    const { calls, outcomeOf } = await consume('crash', { service: 'fixture' });
    expect((await outcomeOf(first.id)).result).toBe('duplicate');
    expect((await outcomeOf(second.id)).result).toBe('processed');
    expect(calls.get(first.id)).toBeUndefined();
    expect(await effects([first.id, second.id])).toEqual({ [first.id]: 1, [second.id]: 1 });
  }, 40_000);

  it('skips event types it does not handle, writing nothing', async () => {
    const orderId = crypto.randomUUID();
    const userId = crypto.randomUUID();
    const changed = createEvent('orders.order.status-changed', 'test', orderId, { orderId, userId, version: 2, status: 'CONFIRMED', reason: null, at: new Date().toISOString() });
    const cancelled = createEvent('orders.order.cancelled', 'test', orderId, { orderId, userId, reason: 'test' });
    await t.kafka.send([message(changed, ORDERS), message(cancelled, ORDERS)]);
    const handled: string[] = [];
    const { outcomeOf } = await consume('skips', { handlers: { 'orders.order.cancelled': async (event) => void handled.push(event.id) } });
    expect((await outcomeOf(changed.id)).result).toBe('ignored');
    expect((await outcomeOf(cancelled.id)).result).toBe('processed');
    expect(handled).toEqual([cancelled.id]);
    expect(await processedRows('test.skips')).toEqual([cancelled.id]);
  });

  it('retries a failing handler with backoff, rolling back each failed attempt; processed once when it succeeds', async () => {
    const event = registered('user-r', 'flaky');
    let failures = 0;
    await t.kafka.send([message(event)]);
    const started = Date.now();
    const { outcomeOf } = await consume('flaky', {
      retry: { attempts: 5, initialBackoffMs: 50 },
      handlers: {
        'account.user.registered': async (e, em) => {
          await em.execute(EFFECT_SQL, [e.id]); // rolled back while the handler fails
          if (failures < 3) {
            failures++;
            throw new Error(`flaky ${failures}`);
          }
        },
      },
    });
    const outcome = await outcomeOf(event.id);
    expect(outcome).toMatchObject({ result: 'processed', attempts: 4 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(50 + 100 + 200);
    expect(await effects([event.id])).toEqual({ [event.id]: 1 });
    expect(await processedRows('test.flaky')).toEqual([event.id]);
    expect(await topicSize(t.kafka, deadLetterTopic('test.flaky'))).toBe(0);
  });

});
