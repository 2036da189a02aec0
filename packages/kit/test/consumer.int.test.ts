import { createEvent } from '@shopgraph/events';
import { kafkaBrokers, outageProxy } from '@shopgraph/testkit';
import { KafkaJSNonRetriableError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { sleep } from '@shopgraph/core/lifecycle';
import { consumerTestContext, message, openMessagingDatabase, ORDERS, registered } from './support.ts';
import { DependencyUnavailable, isTransient, stage, type BatchStage } from '../src/messaging/consumer.ts';
import { recordEvent } from '../src/messaging/outbox.ts';
import { startOutboxRelay } from '../src/messaging/relay.ts';
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
    const committed = await effects([first.id, second.id]);
    expect(committed[first.id]).toBe(1); // committed (with `second` when one fetch brought both), then died

    // The same group again: the uncommitted offsets bring them back; processed_message stops what was committed.
    const { calls, outcomeOf } = await consume('crash', { service: 'fixture' });
    for (const event of [first, second]) {
      expect((await outcomeOf(event.id)).result).toBe(committed[event.id] ? 'duplicate' : 'processed');
      expect(calls.get(event.id)).toBe(committed[event.id] ? undefined : 1);
    }
    expect(await effects([first.id, second.id])).toEqual({ [first.id]: 1, [second.id]: 1 });
  }, 40_000);

  it('killed (SIGKILL) in the middle of a batch: nothing of it was committed, and after restart every effect happens once', async () => {
    const events = ['a', 'b', 'die', 'c', 'd'].map((name) => registered('user-m', name));
    await t.kafka.send(events.map((e) => message(e)));
    const env = { DATABASE_URL: t.databaseUrl, KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: t.kafka.topicPrefix, GROUP_NAME: 'mid-batch', DIE_ON: 'die' };
    const exit = await runFixture('consumer', env);
    expect(exit.signal, exit.output).toBe('SIGKILL');
    expect(await effects(events.map((e) => e.id))).toEqual({}); // the batch's transaction never committed

    // The dead member holds the partitions until its session times out; starting does not wait for
    // that (a restarted service serves HTTP meanwhile), and consumption resumes soon after.
    const restartedAt = Date.now();
    const { outcomes, outcomeOf } = await consume('mid-batch', { service: 'fixture' });
    expect(outcomes).toEqual([]);
    for (const event of events) expect((await outcomeOf(event.id)).result).toBe('processed');
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    expect(await effects(events.map((e) => e.id))).toEqual(Object.fromEntries(events.map((e) => [e.id, 1])));
  }, 40_000);

  it('is started again after a crash kafkajs gives up on (it leaves such a consumer stopped), and consumes on', async () => {
    const [first, second] = [registered('user-r', 'first'), registered('user-r', 'second')];
    await t.kafka.send([message(first)]);
    let crashes = 0;
    const { outcomeOf, outcomes } = await consume('restart', {
      // Once: a failure kafkajs does not retry, as when it cannot find the group coordinator.
      afterCommit: () => {
        if (crashes++ === 0) throw new KafkaJSNonRetriableError('There is no group coordinator');
      },
    });
    expect((await outcomeOf(first.id)).result).toBe('processed');
    // Its offset was not committed: the restarted consumer gets it again, then what comes next.
    expect((await outcomeOf(first.id, 'duplicate')).result).toBe('duplicate');
    await t.kafka.send([message(second)]);
    expect((await outcomeOf(second.id)).result).toBe('processed');
    expect(crashes).toBeGreaterThanOrEqual(2);
    expect(outcomes.filter((o) => o.result === 'processed').map((o) => o.eventId)).toEqual([first.id, second.id]);
    expect(await effects([first.id, second.id])).toEqual({ [first.id]: 1, [second.id]: 1 });
  }, 40_000);

  it('handles what one fetch brings in one transaction, its processed ids in one statement', async () => {
    const events = Array.from({ length: 200 }, (_, i) => registered(`user-${i % 3}`, String(i)));
    await t.kafka.send(events.map((e) => message(e)));
    const transactions = new Set<string>();
    const { outcomes } = await consume('batches', {
      handlers: {
        'account.user.registered': async (event, em) => {
          const [row] = await em.execute<{ xid: string }[]>('select txid_current()::text as xid');
          transactions.add(row!.xid);
          await em.execute(EFFECT_SQL, [event.id]);
        },
      },
    });
    await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(200);
    expect(outcomes.every((o) => o.result === 'processed')).toBe(true);
    expect(await effects(events.map((e) => e.id))).toEqual(Object.fromEntries(events.map((e) => [e.id, 1])));
    // Three partitions, a fetch or two each (fetches are cut at 1 MB, batches at 200): not 200 transactions.
    expect(transactions.size).toBeLessThanOrEqual(12);
  });

  it('carries out what a batch\'s handlers stage once, in its transaction before the commit; a stage that fails fails the batch', async () => {
    const events = Array.from({ length: 60 }, (_, i) => registered(`user-${i % 3}`, i === 45 ? 'unstageable' : String(i)));
    await t.kafka.send(events.map((e) => message(e)));
    const carried: { ids: string[]; xid: string }[] = [];
    const effectsOnce: BatchStage<string> = {
      carryOut: async (ids, em) => {
        const [row] = await em.execute<{ xid: string }[]>('select txid_current()::text as xid');
        carried.push({ ids: [...ids], xid: row!.xid });
        if (ids.some((id) => id === events[45]!.id)) throw new RangeError('cannot write this one');
        await em.execute(`insert into effect (event_id, n) values ${ids.map(() => '(?, 1)').join(', ')}`, [...ids]);
      },
    };
    const transactions = new Set<string>();
    const { outcomes, outcomeOf } = await consume('staged', {
      retry: { attempts: 1, initialBackoffMs: 10 },
      handlers: {
        'account.user.registered': async (event, em) => {
          transactions.add((await em.execute<{ xid: string }[]>('select txid_current()::text as xid'))[0]!.xid);
          stage(em, effectsOnce, event.id);
        },
      },
    });
    expect(await outcomeOf(events[45]!.id)).toMatchObject({ result: 'dead-lettered', error: 'cannot write this one' });
    await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(60);
    const others = events.filter((_, i) => i !== 45);
    expect(await effects(events.map((e) => e.id))).toEqual(Object.fromEntries(others.map((e) => [e.id, 1])));
    // Once per transaction, in it: the batches' carried-out ids are their handlers' events.
    for (const { xid } of carried) expect(transactions.has(xid)).toBe(true);
    expect(carried.filter(({ ids }) => ids.length > 1).length).toBeGreaterThan(0);
    expect(() => stage(t.orm.em.fork(), effectsOnce, 'outside')).toThrow(/consumer handler/);
  });

  it("writes the events a batch's handlers record in one statement before its commit, in the order recorded, and wakes the relay", async () => {
    const sql = <T>(query: string, params: unknown[] = []) => t.orm.em.fork().execute<T[]>(query, params);
    // Notes each statement that inserts into the outbox: its transaction and how many rows it inserted.
    await sql('create table outbox_insert_statement (xid text not null, rows int not null)');
    await sql(`create function count_outbox_insert() returns trigger language plpgsql as $$ begin insert into outbox_insert_statement select txid_current()::text, count(*) from inserted; return null; end $$`);
    await sql('create trigger count_outbox_insert after insert on outbox_message referencing new table as inserted for each statement execute function count_outbox_insert()');
    const relay = await startOutboxRelay({ orm: t.orm, kafka: t.kafka, logger: t.logger, pollIntervalMs: 60_000 });
    try {
      await expect.poll(() => relay.leader, { timeout: 10_000 }).toBe(true);
      const names = Array.from({ length: 60 }, (_, i) => (i === 45 ? 'poison' : String(i)));
      const events = names.map((name, i) => registered(`user-${i % 3}`, name));
      const followUps = (i: number) => [`follow-up ${names[i]} 1`, `follow-up ${names[i]} 2`];
      await t.kafka.send(events.map((e) => message(e)));
      const { outcomes, outcomeOf } = await consume('records', {
        retry: { attempts: 1, initialBackoffMs: 10 },
        handlers: {
          'account.user.registered': async (event, em) => {
            if (event.data.name.startsWith('follow-up')) return;
            // Two per event, the second after a flush of the handler's own: both kept for the batch's statement.
            recordEvent(em, 'account.user.registered', event.subject, { ...event.data, name: `follow-up ${event.data.name} 1` }, { source: 'accounts' });
            await em.flush();
            recordEvent(em, 'account.user.registered', event.subject, { ...event.data, name: `follow-up ${event.data.name} 2` }, { source: 'accounts' });
            if (event.data.name === 'poison') throw new RangeError('cannot apply this one');
          },
        },
      });
      expect(await outcomeOf(events[45]!.id)).toMatchObject({ result: 'dead-lettered' });
      // The 59 events and the 118 follow-ups they recorded, published and consumed (well before the relay's 60 s poll).
      await expect.poll(() => outcomes.filter((o) => o.result === 'processed').length, { timeout: 20_000 }).toBe(59 + 118);
      const rows = await sql<{ name: string }>(`select envelope->'data'->>'name' as name from outbox_message order by seq`);
      const kept = [...names.keys()].filter((i) => i !== 45);
      expect(rows.map((row) => row.name).toSorted()).toEqual(kept.flatMap(followUps).toSorted());
      // Per key, in the order recorded.
      for (const key of ['user-0', 'user-1', 'user-2']) {
        const ofKey = kept.filter((i) => events[i]!.subject === key).flatMap(followUps);
        expect(rows.filter((row) => ofKey.includes(row.name)).map((row) => row.name)).toEqual(ofKey);
      }
      // One statement per transaction, carrying the events of every handler in it.
      const statements = await sql<{ xid: string; rows: number }>('select xid, rows from outbox_insert_statement');
      expect(new Set(statements.map((s) => s.xid)).size).toBe(statements.length);
      expect(statements.reduce((sum, s) => sum + s.rows, 0)).toBe(118);
      expect(Math.max(...statements.map((s) => s.rows))).toBeGreaterThan(2);
    } finally {
      await relay.stop();
      await sql('drop trigger count_outbox_insert on outbox_message');
      await sql('drop function count_outbox_insert()');
    }
  });

  it('isolates a poison message in a batch: the others are applied once, only it is dead-lettered', async () => {
    const events = Array.from({ length: 30 }, (_, i) => registered('user-p', i === 15 ? 'poison' : String(i)));
    await t.kafka.send(events.map((e) => message(e)));
    const { outcomes, outcomeOf } = await consume('poison', {
      retry: { attempts: 2, initialBackoffMs: 10 },
      handlers: {
        'account.user.registered': async (event, em) => {
          await em.execute(EFFECT_SQL, [event.id]);
          if (event.data.name === 'poison') throw new RangeError('cannot apply this one');
        },
      },
    });
    const poison = events[15]!;
    expect(await outcomeOf(poison.id)).toMatchObject({ result: 'dead-lettered', attempts: 2, error: 'cannot apply this one' });
    await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(30);
    const others = events.filter((e) => e !== poison);
    expect(outcomes.filter((o) => o.result === 'processed').map((o) => o.eventId)).toEqual(others.map((e) => e.id)); // in order
    expect(await effects(events.map((e) => e.id))).toEqual(Object.fromEntries(others.map((e) => [e.id, 1])));
    expect(await processedRows('test.poison')).toEqual(others.map((e) => e.id).sort());
    expect(await topicSize(t.kafka, deadLetterTopic('test.poison'))).toBe(1);
  });

  it('skips event types it does not handle, writing nothing', async () => {
    const orderId = crypto.randomUUID();
    const userId = crypto.randomUUID();
    const changed = createEvent('orders.order.status-changed', 'orders', orderId, { orderId, userId, version: 2, status: 'CONFIRMED', reason: null, at: new Date().toISOString() });
    const cancelled = createEvent('orders.order.cancelled', 'orders', orderId, { orderId, userId, reason: 'test' });
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

  it('waits out an outage of its database (retrying, heartbeating) and dead-letters nothing', async () => {
    const outage = await outageProxy(t.databaseUrl);
    const orm = await openMessagingDatabase(outage.url, { effects: true });
    try {
      const before = registered('user-o', 'before');
      await t.kafka.send([message(before)]);
      const { outcomes, outcomeOf } = await consume('outage', { orm, retry: { attempts: 2, initialBackoffMs: 50, maxBackoffMs: 500 } });
      expect((await outcomeOf(before.id)).result).toBe('processed');

      outage.cut();
      const during = Array.from({ length: 10 }, (_, i) => registered(`user-${i % 3}`, `during-${i}`));
      await t.kafka.send(during.map((e) => message(e)));
      await sleep(4_000); // many more retries than `attempts` allows a failing handler
      expect(outcomes.filter((o) => o.result !== 'processed')).toEqual([]);
      outage.restore();

      for (const event of during) expect((await outcomeOf(event.id)).result).toBe('processed');
      expect(await effects(during.map((e) => e.id))).toEqual(Object.fromEntries(during.map((e) => [e.id, 1])));
      expect(await topicSize(t.kafka, deadLetterTopic('test.outage'))).toBe(0);
    } finally {
      await t.stopConsumers();
      await orm.close();
      await outage.close();
    }
  }, 40_000);
});

describe('isTransient', () => {
  it('tells an unavailable dependency from a message that cannot succeed', () => {
    const pgError = (code: string) => Object.assign(new Error('x'), { code });
    for (const transient of [pgError('08006'), pgError('57P01'), pgError('40P01'), pgError('ECONNREFUSED'), new Error('Connection terminated unexpectedly'), new Error('wrapped', { cause: pgError('53300') }), new DependencyUnavailable('Elasticsearch')]) {
      expect(isTransient(transient), String(transient)).toBe(true);
    }
    for (const permanent of [pgError('23505'), pgError('22P02'), new TypeError('x is undefined'), new RangeError('no'), 'a string']) expect(isTransient(permanent), String(permanent)).toBe(false);
  });
});
