import type { EventData } from '@shopgraph/events';
import { newEvent, serviceStarter, type AnyEvent } from '@shopgraph/testkit';
import { createPaymentsApp } from '../src/app.ts';
import { loadPaymentsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The payments service on a database of its own, with test seams (see startServiceUnderTest); close it when done. */
export const startPayments = serviceStarter({ name: 'payments', createApp: createPaymentsApp, loadConfig: loadPaymentsConfig, entities, migrations });

export interface Order {
  orderId: string;
  userId: string;
  placed: AnyEvent;
  reserved: AnyEvent;
  cancelled: AnyEvent;
}

/** The saga events of a new order (not sent): placed by `userId`, for `amount` cents, paid with `method`, shipped to `country`. */
export function newOrder(method = 'pm_card_visa', amount = 4_200, userId: string = crypto.randomUUID(), country = 'DE'): Order {
  const orderId = crypto.randomUUID();
  const productId = crypto.randomUUID();
  const placed: EventData<'orders.order.placed'> = {
    orderId,
    userId,
    lines: [{ productId, quantity: 1, unitPrice: { amount, currency: 'USD' } }],
    total: { amount, currency: 'USD' },
    paymentMethod: method,
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Berlin', postalCode: '10115', country },
  };
  return {
    orderId,
    userId,
    placed: newEvent('orders.order.placed', orderId, placed),
    reserved: newEvent('inventory.stock.reserved', orderId, { orderId, lines: [{ productId, quantity: 1 }] }),
    cancelled: newEvent('orders.order.cancelled', orderId, { orderId, userId, reason: 'Cancelled by the customer' }),
  };
}

/** The same event again under a new id: what a producer that re-sent it would publish. */
export const copyOf = (event: AnyEvent): AnyEvent => ({ ...event, id: crypto.randomUUID(), time: new Date().toISOString() });
