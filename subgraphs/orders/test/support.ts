// Helpers of the orders integration tests: a stand-in for the services behind the router, a way to
// produce other services' events into real Kafka, and an observer of what orders publishes.
import { contracts, createEvent, type Envelope, type EventData, type EventType } from '@shopgraph/events';
import type { KafkaClient } from '@shopgraph/kit';
import { readTopic } from '@shopgraph/testkit';
import type { Checkout, CheckoutSource } from '../src/domain/checkout-source.ts';

/**
 * Stands in for cart + catalog + payments behind the router: each caller (by access token) has a
 * cart of priced lines; payment methods are a set; a token in `unavailable` gets a rejection, like
 * an unreachable supergraph.
 */
export function standInCheckout() {
  const carts = new Map<string, Checkout['lines']>();
  const paymentMethods = new Set(['pm_card_visa', 'pm_card_chargeDeclined']);
  const unavailable = new Set<string>();
  const calls: { token: string | null; paymentMethod: string }[] = [];
  const source: CheckoutSource = {
    async load(paymentMethod, token) {
      calls.push({ token, paymentMethod });
      if (token && unavailable.has(token)) throw new Error('router unreachable');
      return { lines: (token && carts.get(token)) || [], paymentMethodExists: paymentMethods.has(paymentMethod) };
    },
  };
  return { source, carts, paymentMethods, unavailable, calls };
}

/** Produces events of other services (inventory, payments, shipping) as their relays do: the envelope as JSON, keyed by subject. */
export function eventProducer(kafka: KafkaClient) {
  return {
    /** A new event (new id) about an order, from the service that owns its type. */
    event<T extends EventType>(type: T, data: EventData<T> & { orderId: string }): Envelope<EventData<T>> & { type: T } {
      return createEvent(type, type.split('.')[0]!, data.orderId, data);
    },
    /** Sends envelopes as they are (send one twice to deliver it twice). */
    async send(...events: (Envelope & { type: EventType })[]): Promise<void> {
      await kafka.send(events.map((e) => ({ topic: contracts[e.type].topic, key: e.subject, value: JSON.stringify(e) })));
    },
  };
}

/** Everything orders publishes (its one topic, from the beginning), as envelopes with their Kafka key. */
export async function observeOrders(kafka: KafkaClient): Promise<{ events(): (Envelope & { key: string | null })[]; stop(): Promise<void> }> {
  const reader = await readTopic(kafka, 'orders.order.v1');
  return {
    events: () => reader.messages.map((m) => ({ ...(JSON.parse(m.value!) as Envelope), key: m.key })),
    stop: () => reader.stop(),
  };
}

export const address = { name: 'Ada Lovelace', line1: '12 St James Square', line2: null, city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

export const PLACE = `mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id status createdAt total { amount currency } lines { product { id } quantity unitPrice { amount currency } lineTotal { amount currency } } statusHistory { version status reason at } }
    errors { code message field }
  }
}`;

export const ORDER = `query($id: ID!) { order(id: $id) { id status statusHistory { version status reason at order { id } } } }`;
