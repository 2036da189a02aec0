// Events on the real broker, around a service under test: other services' events go in as their
// relays would send them, what the service's consumers made of them is awaited through its
// `onMessage` hook, and what it published is read back from its topic.
import { contracts, createEvent, ownerOf, type Envelope, type EventData, type EventType } from '@shopgraph/events';
import type { MessageOutcome } from '@shopgraph/kit';
import { createTestKafka, readTopic, type TopicReader } from './kafka.ts';
import { eventually } from './wait.ts';

export type AnyEvent = Envelope & { type: EventType };

/**
 * A new event (new id, now) as the service owning its type would record it, its source being that
 * service (`accounts`, `orders`…: consumers refuse any other). Not sent: hand it to `EventProducer.send`.
 */
export function newEvent<T extends EventType>(type: T, subject: string, data: EventData<T>): Envelope<EventData<T>> & { type: T } {
  return createEvent(type, ownerOf(contracts[type].topic)!, subject, data);
}

/** Sends events into this test file's topics the way the owners' relays do. */
export interface EventProducer {
  /** Makes a new event (see `newEvent`) and sends it; resolves with it once Kafka has it. */
  publish<T extends EventType>(type: T, subject: string, data: EventData<T>): Promise<Envelope<EventData<T>> & { type: T }>;
  /** Sends envelopes as they are, in order: send one again to deliver it again, as a redelivery would. */
  send(...envelopes: AnyEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** The envelope as JSON on its contract's topic, keyed by subject, with the relay's headers. */
export function eventProducer(): EventProducer {
  const kafka = createTestKafka('test-producer');
  const send = (...envelopes: AnyEvent[]): Promise<void> =>
    kafka.send(
      envelopes.map((envelope) => ({
        topic: contracts[envelope.type].topic,
        key: envelope.subject,
        value: JSON.stringify(envelope),
        headers: { 'event-id': envelope.id, 'event-type': envelope.type, ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}) },
      })),
    );
  return {
    async publish(type, subject, data) {
      const envelope = newEvent(type, subject, data);
      await send(envelope);
      return envelope;
    },
    send,
    close: () => kafka.close(),
  };
}

/** One message of an observed topic. */
export interface Received {
  /** The logical topic (without this file's prefix). */
  topic: string;
  key: string | null;
  envelope: Envelope & { type: string };
}

export interface EventObserver {
  /** Everything read so far, in arrival order (per partition: offset order). */
  readonly received: Received[];
  /** Waits until `count` events (default 1) match, and returns the matching ones; rejects after timeoutMs (default 20 s). */
  waitFor(match: (event: Received) => boolean, count?: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/**
 * Reads one of this test file's (logical) topics from the beginning with a throwaway consumer
 * group, for assertions on what a service published. Resolves once it has joined, so nothing
 * published afterwards is missed.
 */
export async function observe(topic: string): Promise<EventObserver> {
  const kafka = createTestKafka('test-observer');
  let reader: TopicReader;
  try {
    reader = await readTopic(kafka, topic);
  } catch (error) {
    await kafka.close();
    throw error;
  }
  const received: Received[] = [];
  const sync = (): Received[] => {
    for (const message of reader.messages.slice(received.length)) {
      received.push({ topic, key: message.key, envelope: JSON.parse(message.value ?? 'null') as Received['envelope'] });
    }
    return received;
  };
  return {
    get received() {
      return sync();
    },
    async waitFor(match, count = 1, timeoutMs = 20_000) {
      await reader.waitFor(() => sync().filter(match).length >= count, timeoutMs);
      return received.filter(match);
    },
    async close() {
      await reader.stop();
      await kafka.close();
    },
  };
}

/** What a service's consumers did with each message, collected from its `onMessage` hook, to wait on instead of sleeping. */
export interface ConsumerOutcomes {
  /** Every outcome so far, in the order reported. */
  readonly all: MessageOutcome[];
  /** Pass as the service's `onMessage`. */
  readonly record: (outcome: MessageOutcome) => void;
  /** Waits until the event was handled (processed, duplicate, dead-lettered…) at least `times` times; resolves with those outcomes. */
  handled(event: Pick<Envelope, 'id'>, times?: number, timeoutMs?: number): Promise<MessageOutcome[]>;
  /** The results of every handling of an event so far, in order. */
  resultsOf(event: Pick<Envelope, 'id'>): MessageOutcome['result'][];
}

export function consumerOutcomes(): ConsumerOutcomes {
  const all: MessageOutcome[] = [];
  const of = (event: Pick<Envelope, 'id'>) => all.filter((outcome) => outcome.eventId === event.id);
  return {
    all,
    record: (outcome) => void all.push(outcome),
    handled: (event, times = 1, timeoutMs) =>
      eventually(() => {
        const found = of(event);
        return found.length >= times && found;
      }, `event ${event.id} handled ${times}×`, timeoutMs),
    resultsOf: (event) => of(event).map((outcome) => outcome.result),
  };
}
