// Helpers of the orders integration tests: a stand-in for the subgraphs checkout reads, and the
// saga events of other services about an order.
import type { EventData, EventType } from '@shopgraph/events';
import { DomainError } from '@shopgraph/kit';
import { newEvent, serviceStarter, type EventObserver } from '@shopgraph/testkit';
import { createOrdersApp } from '../src/app.ts';
import { loadOrdersConfig } from '../src/config.ts';
import type { Checkout, CheckoutSource, CouponReservation } from '../src/domain/checkout-source.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The orders service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startOrders = serviceStarter({ name: 'orders', createApp: createOrdersApp, loadConfig: loadOrdersConfig, entities, migrations });

/**
 * Stands in for cart + catalog + payments + promotions: each caller (by access token) has a cart
 * of priced lines and maybe a coupon; payment methods are a set; a token in `unavailable` gets a
 * rejection, like an unreachable subgraph.
 */
export function standInCheckout() {
  const carts = new Map<string, Checkout['lines']>();
  const paymentMethods = new Set(['pm_card_visa', 'pm_card_chargeDeclined']);
  const unavailable = new Set<string>();
  const coupons = new Map<string, CouponReservation | DomainError>();
  const reservations = new Map<string, CouponReservation>();
  const calls: { token: string | null; paymentMethod: string }[] = [];
  const source: CheckoutSource = {
    async load(paymentMethod, token) {
      calls.push({ token, paymentMethod });
      if (token && unavailable.has(token)) throw new Error('subgraph unreachable');
      return { lines: (token && carts.get(token)) || [], paymentMethodExists: paymentMethods.has(paymentMethod) };
    },
    async reserveCoupon(orderId, _lines, token) {
      const coupon = token ? coupons.get(token) : undefined;
      if (coupon instanceof DomainError) throw coupon;
      if (coupon) reservations.set(orderId, coupon);
      return coupon ?? null;
    },
  };
  return { source, carts, coupons, reservations, paymentMethods, unavailable, calls };
}

/** A new saga event of inventory, payments or shipping about an order (the order id as its subject); not sent. */
export const orderEvent = <T extends EventType>(type: T, data: EventData<T> & { orderId: string }) => newEvent(type, data.orderId, data);

/** What orders published (read from its topic), as envelopes with their Kafka key. */
export const publishedEvents = (observer: EventObserver) => observer.received.map((r) => ({ ...r.envelope, key: r.key }));

export const address = { name: 'Ada Lovelace', line1: '12 St James Square', line2: null, city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

export const PLACE = `mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id status createdAt coupon discount { amount currency } total { amount currency } lines { product { id } quantity unitPrice { amount currency } lineTotal { amount currency } } statusHistory { version status reason at } }
    errors { code message field }
  }
}`;

export const ORDER = `query($id: ID!) { order(id: $id) { id status statusHistory { version status reason at order { id } } } }`;
