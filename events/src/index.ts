import { contracts, owners, type Context, type EventData, type EventType } from './contracts/index.ts';
import { envelopeSchema, type Envelope } from './envelope.ts';

export { contracts, owners, type Context, type Contracts, type EventData, type EventType } from './contracts/index.ts';
export { envelopeSchema, type Envelope } from './envelope.ts';

/** Every topic the system uses, with the settings it is created with. */
export const topics = [...new Set(Object.values(contracts).map((c) => c.topic))].sort();

/** The service that records every event on a contract topic (see `owners`); undefined for any other topic. */
export function ownerOf(topic: string): string | undefined {
  if (!(topics as readonly string[]).includes(topic)) return undefined;
  return owners[topic.slice(0, topic.indexOf('.')) as Context];
}

/**
 * Whether a cancellation waits for shipping's verdict: a CONFIRMED order has a shipment, and only
 * shipping knows whether the goods left. Compensation then follows `shipping.shipment.cancelled`,
 * and never comes if the shipment had already gone (the cancellation is void).
 */
export const awaitsShippingVerdict = (cancelled: EventData<'orders.order.cancelled'>): boolean => cancelled.previousStatus === 'CONFIRMED';

export const isEventType = (type: string): type is EventType => Object.hasOwn(contracts, type);

/** Why a message cannot be handled whatever the retry: it goes straight to the dead-letter topic. */
export class InvalidEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEvent';
  }
}

/**
 * Parses and validates a message: the envelope, a known type, a supported dataVersion, and the
 * data against its schema. A consumer never sees anything this did not accept.
 */
export function parseEvent(raw: Buffer | string | null): Envelope<EventData<EventType>> & { type: EventType } {
  if (raw === null) throw new InvalidEvent('empty message');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    throw new InvalidEvent('message is not JSON');
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) throw new InvalidEvent(`bad envelope: ${envelope.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { type, dataVersion } = envelope.data;
  if (!isEventType(type)) throw new InvalidEvent(`unknown event type "${type}"`);
  const contract = contracts[type];
  if (dataVersion !== contract.dataVersion) throw new InvalidEvent(`${type} dataVersion ${dataVersion} is not supported (expected ${contract.dataVersion})`);
  const data = contract.schema.safeParse(envelope.data.data);
  if (!data.success) throw new InvalidEvent(`invalid ${type} data: ${data.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { ...envelope.data, type, data: data.data };
}

/**
 * Refuses an event that did not come from where it must: on a topic other than its type's, or
 * signed by a `source` other than that topic's owner. Whoever else can write to Kafka cannot pass
 * an event off as another service's. `topic` is logical (without a test prefix).
 */
export function assertOrigin(event: { type: EventType; source: string }, topic: string): void {
  const expected = contracts[event.type].topic;
  if (topic !== expected) throw new InvalidEvent(`${event.type} belongs on ${expected}, not on ${topic}`);
  const owner = ownerOf(topic);
  if (event.source !== owner) throw new InvalidEvent(`${event.type} from source "${event.source}" refused: only ${owner} publishes on ${topic}`);
}

/** A new envelope for an event, its data validated against the contract before it is ever written. */
export function createEvent<T extends EventType>(type: T, source: string, subject: string, data: EventData<T>, traceparent?: string): Envelope<EventData<T>> & { type: T } {
  const contract = contracts[type];
  const parsed = contract.schema.parse(data) as EventData<T>;
  return { id: crypto.randomUUID(), type, source, subject, time: new Date().toISOString(), dataVersion: contract.dataVersion, ...(traceparent ? { traceparent } : {}), data: parsed };
}
