// A consumer takes an event only from the service that owns its topic (events' `owners`): one
// signed by anyone else who can write to Kafka, or of another topic's type, is refused unhandled.
import { createTestKafka, readTopic, testLogger, uniqueTopicPrefix } from '@shopgraph/testkit';
import { describe, expect, it } from 'vitest';
import { startBroadcastConsumer, type BroadcastOutcome } from '../src/messaging/broadcast.ts';
import { deadLetterTopic } from '../src/messaging/dead-letters.ts';
import { consumerTestContext, message, registered, USERS } from './support.ts';

const t = consumerTestContext('origin');

describe('a consumer refuses events not from the topic’s owner', () => {
  it('dead-letters at once, as invalid with the reason, an event whose source is not the owner, or of another topic; handles the genuine one', async () => {
    const genuine = registered('user-o', 'genuine'); // source "accounts", the owner of account.user.v1
    const forged = { ...registered('user-o', 'forged'), source: 'orders' };
    const contextNotService = { ...registered('user-o', 'context'), source: 'account' };
    // orders may write orders.order.v1, not an accounts event passed off on it.
    const wrongTopic = { ...registered('user-o', 'wrong topic'), source: 'orders' };
    await t.kafka.send([message(forged), message(contextNotService), message(wrongTopic, 'orders.order.v1'), message(genuine)]);
    const dlq = await readTopic(t.kafka, deadLetterTopic('test.origin'));
    try {
      const handled: string[] = [];
      // Subscribed to orders.order.v1 too, where the event of the wrong topic arrives.
      const { outcomeOf } = await t.consume('origin', { handlers: { 'account.user.registered': async (event) => void handled.push(event.id), 'orders.order.placed': async () => {} } });
      expect(await outcomeOf(genuine.id)).toMatchObject({ result: 'processed' });
      for (const refused of [forged, contextNotService, wrongTopic]) expect(await outcomeOf(refused.id), refused.id).toMatchObject({ result: 'dead-lettered', attempts: 0 });
      expect(handled).toEqual([genuine.id]);
      const letters = await dlq.waitFor((m) => m.length === 3);
      const reasons = Object.fromEntries(letters.map((l) => [JSON.parse(l.value!).id as string, l.headers]));
      expect(reasons[forged.id]).toMatchObject({ 'x-error-type': 'InvalidEvent', 'x-attempts': '0', 'x-error': 'account.user.registered from source "orders" refused: only accounts publishes on account.user.v1' });
      expect(reasons[contextNotService.id]!['x-error']).toBe('account.user.registered from source "account" refused: only accounts publishes on account.user.v1');
      expect(reasons[wrongTopic.id]!['x-error']).toBe('account.user.registered belongs on account.user.v1, not on orders.order.v1');
      expect(await t.processedRows('test.origin')).toEqual([genuine.id]);
    } finally {
      await dlq.stop();
    }
  });

  it('a broadcast consumer skips a forged event as invalid and delivers the genuine one', async () => {
    const kafka = createTestKafka('origin-broadcast', { topicPrefix: uniqueTopicPrefix() });
    const names: string[] = [];
    const outcomes: BroadcastOutcome[] = [];
    const runner = await startBroadcastConsumer({ service: 'test', name: 'live', kafka, logger: testLogger('origin-broadcast'), handlers: { 'account.user.registered': (event) => void names.push(event.data.name) }, onMessage: (o) => outcomes.push(o) });
    try {
      const forged = { ...registered('u-f', 'forged'), source: 'payments' };
      await kafka.send([message(forged, USERS), message(registered('u-f', 'genuine'))]);
      await expect.poll(() => outcomes.length, { timeout: 20_000 }).toBe(2);
      expect(names).toEqual(['genuine']);
      expect(outcomes.find((o) => o.eventId === forged.id)).toMatchObject({ result: 'invalid', error: expect.stringMatching(/from source "payments" refused: only accounts publishes/) });
    } finally {
      await runner.stop();
      await kafka.close();
    }
  });
});
