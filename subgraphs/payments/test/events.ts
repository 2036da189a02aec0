// Test helpers for the saga on the real broker: send other services' events, wait until this
// service's consumer has handled them, read what it published. (The same file lives in the other
// saga subgraphs' test folders; a candidate for @shopgraph/testkit.)
import { contracts, type Envelope, type EventType } from '@shopgraph/events';
import type { KafkaClient, MessageOutcome } from '@shopgraph/kit';
import { createTestKafka, readTopic, type TopicReader } from '@shopgraph/testkit';

export type AnyEvent = Envelope & { type: EventType };

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

/** Sends envelopes the way the other services' relays do: as JSON, keyed by subject, on the contract's topic (with this file's prefix). */
export interface Producer {
  send(...envelopes: AnyEvent[]): Promise<void>;
  close(): Promise<void>;
}

export function eventProducer(): Producer {
  const kafka: KafkaClient = createTestKafka('test-producer');
  return {
    send: (...envelopes) =>
      kafka.send(envelopes.map((envelope) => ({ topic: contracts[envelope.type].topic, key: envelope.subject, value: JSON.stringify(envelope) }))),
    close: () => kafka.close(),
  };
}

/** What the service's consumer did with each message (its `onMessage` hook), to wait on instead of sleeping. */
export interface Outcomes {
  readonly all: MessageOutcome[];
  record(outcome: MessageOutcome): void;
  /** Waits until the consumer has handled the event (processed, duplicate, ...) at least `times` times. */
  handled(event: Pick<Envelope, 'id'>, times?: number): Promise<MessageOutcome[]>;
  /** The results of every handling of an event so far, in order. */
  resultsOf(event: Pick<Envelope, 'id'>): MessageOutcome['result'][];
}

export function outcomes(): Outcomes {
  const all: MessageOutcome[] = [];
  return {
    all,
    record: (outcome) => void all.push(outcome),
    handled: (event, times = 1) =>
      eventually(() => {
        const found = all.filter((o) => o.eventId === event.id);
        return found.length >= times && found;
      }, `event ${event.id} handled ${times}×`),
    resultsOf: (event) => all.filter((o) => o.eventId === event.id).map((o) => o.result),
  };
}

export interface Published {
  key: string | null;
  envelope: Envelope & { type: string };
}

/** Reads a topic this service publishes to, from the beginning, for assertions. */
export interface Observer {
  /** Waits until `count` published events match, and returns them. */
  waitFor(match: (event: Published) => boolean, count?: number): Promise<Published[]>;
  close(): Promise<void>;
}

export async function observe(topic: string): Promise<Observer> {
  const kafka = createTestKafka('test-observer');
  let reader: TopicReader;
  try {
    reader = await readTopic(kafka, topic);
  } catch (error) {
    await kafka.close();
    throw error;
  }
  const parsed = () => reader.messages.map((m) => ({ key: m.key, envelope: JSON.parse(m.value ?? 'null') as Published['envelope'] }));
  return {
    async waitFor(match, count = 1) {
      await reader.waitFor(() => parsed().filter(match).length >= count);
      return parsed().filter(match);
    },
    async close() {
      await reader.stop();
      await kafka.close();
    },
  };
}
