import { awaitsShippingVerdict } from '@shopgraph/events';
import { handleOnly, type EventHandlers } from '@shopgraph/kit';
import { NotificationsService } from '../domain/notifications.service.ts';

/** The order statuses a customer hears about from orders' own events (shipping's tell the rest). */
const ORDER_STATUS_KINDS = { CONFIRMED: 'ORDER_CONFIRMED', PAYMENT_FAILED: 'PAYMENT_FAILED', UNDER_REVIEW: 'ORDER_UNDER_REVIEW', REJECTED: 'ORDER_REJECTED' } as const;

/** The events that only keep the read model: handling one records no notification, so the sender has nothing new to look for. */
export const READ_MODEL_ONLY: ReadonlySet<string> = new Set(['catalog.product.changed', 'orders.order.placed']);

/**
 * Notifications' consumer (group `notifications.notify`): keeps the read model of users, orders
 * and product names, and records one notification per event that calls for one, in the
 * consumer's transaction; the sender renders and sends it. A CONFIRMED order's cancellation is
 * announced when shipping stopped the shipment (`shipping.shipment.cancelled`): if the goods had
 * left, the cancellation is void and the customer hears they shipped instead.
 */
export const notifyHandlers: EventHandlers = {
  'account.user.registered': async (event, em) => {
    await new NotificationsService(em).userRegistered(event.id, event.data);
  },
  'catalog.product.changed': async (event, em) => {
    new NotificationsService(em).productChanged(event.data);
  },
  'orders.order.placed': async (event, em) => {
    await new NotificationsService(em).orderPlaced(event.data);
  },
  'orders.order.status-changed': handleOnly<'orders.order.status-changed'>(
    (event) => Object.hasOwn(ORDER_STATUS_KINDS, event.data.status),
    async (event, em) => {
      const { orderId, userId, status, reason } = event.data;
      const kind = ORDER_STATUS_KINDS[status as keyof typeof ORDER_STATUS_KINDS];
      await new NotificationsService(em).notify(event.id, { kind, userId, orderId, facts: { reason: reason ?? 'no reason given' } });
    },
  ),
  'orders.order.cancelled': handleOnly<'orders.order.cancelled'>(
    (event) => !awaitsShippingVerdict(event.data),
    async (event, em) => {
      const { orderId, userId, reason } = event.data;
      await new NotificationsService(em).notify(event.id, { kind: 'ORDER_CANCELLED', userId, orderId, facts: { reason } });
    },
  ),
  'shipping.shipment.cancelled': async (event, em) => {
    await new NotificationsService(em).notify(event.id, { kind: 'ORDER_CANCELLED', orderId: event.data.orderId, facts: { reason: event.data.reason } });
  },
  'shipping.shipment.shipped': async (event, em) => {
    await new NotificationsService(em).notify(event.id, { kind: 'ORDER_SHIPPED', orderId: event.data.orderId, facts: { trackingNumber: event.data.trackingNumber } });
  },
  'shipping.shipment.delivered': async (event, em) => {
    await new NotificationsService(em).notify(event.id, { kind: 'ORDER_DELIVERED', orderId: event.data.orderId, facts: { trackingNumber: event.data.trackingNumber } });
  },
  'inventory.stock.low': async (event, em) => {
    const { productId, availableQuantity, threshold } = event.data;
    await new NotificationsService(em).notify(event.id, { kind: 'LOW_STOCK', facts: { productId: productId.toLowerCase(), availableQuantity, threshold } });
  },
};
