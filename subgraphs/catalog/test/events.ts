// Test helpers for events on the real broker: produce the events of other services, and read what
// this service published. (Candidates for @shopgraph/testkit; kept here until it offers them.)
import type { KafkaClient } from '@shopgraph/kit';
import { contracts, createEvent, type Envelope, type EventData, type EventType } from '@shopgraph/events';
import { createTestKafka, kafkaBrokers, testTopicPrefix } from '@shopgraph/testkit';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { randomBytes } from 'node:crypto';

/** The env a service under test needs for Kafka: the test broker and this file's topic prefix. */
export const kafkaEnv = (): { KAFKA_BROKERS: string; KAFKA_TOPIC_PREFIX: string } => ({ KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: testTopicPrefix });

/** Polls until `check` returns something other than undefined/false, or fails after the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Produces other services' events the way their relays do: the envelope as JSON, keyed by subject, on the contract's topic. */
export interface Producer {
  publish<T extends EventType>(type: T, subject: string, data: EventData<T>): Promise<Envelope<EventData<T>> & { type: T }>;
  /** Sends an envelope again, as a redelivery would. */
  republish(envelope: Envelope & { type: EventType }): Promise<void>;
  close(): Promise<void>;
}

/** Produces into this file's topics (its topic prefix). */
export function eventProducer(): Producer {
  const kafka: KafkaClient = createTestKafka('test-producer');
  const send = (envelope: Envelope & { type: EventType }) =>
    kafka.send([{ topic: contracts[envelope.type].topic, key: envelope.subject, value: JSON.stringify(envelope) }]);
  return {
    async publish(type, subject, data) {
      const envelope = createEvent(type, 'test', subject, data);
      await send(envelope);
      return envelope;
    },
    republish: send,
    close: () => kafka.close(),
  };
}

export interface Received {
  topic: string;
  key: string | null;
  envelope: Envelope & { type: string };
}

/** Reads every message of some of this file's topics from the beginning (its own consumer group), for assertions. */
export interface Observer {
  readonly received: Received[];
  /** Waits for `count` events matching `match`, and returns them. */
  waitFor(match: (event: Received) => boolean, count?: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function observe(topics: string[]): Promise<Observer> {
  const topicPrefix = testTopicPrefix;
  const kafka = new Kafka({ clientId: 'test-observer', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: `${topicPrefix}test-observer-${randomBytes(4).toString('hex')}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const received: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: topics.map((topic) => `${topicPrefix}${topic}`), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      received.push({ topic: topic.slice(topicPrefix.length), key: message.key?.toString() ?? null, envelope: JSON.parse(message.value!.toString()) });
    },
  });
  return {
    received,
    waitFor: (match, count = 1, timeoutMs = 20_000) =>
      eventually(() => {
        const found = received.filter(match);
        return found.length >= count && found;
      }, `${count} matching event(s)`, timeoutMs),
    close: () => consumer.disconnect(),
  };
}
