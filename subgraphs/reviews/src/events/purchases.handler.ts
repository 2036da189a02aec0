import { handleOnly, type EventHandlers } from '@shopgraph/kit';
import { PurchasesService } from '../domain/purchases.service.ts';

/**
 * Reviews' read model of purchases (consumer group `reviews.purchases`): the products of every
 * placed order, and the orders delivered. Other status changes never touch reviews, so they are
 * skipped before any transaction is opened.
 */
export const purchasesHandlers: EventHandlers = {
  'orders.order.placed': async (event, em) => {
    await new PurchasesService(em).orderPlaced(event.data);
  },
  'orders.order.status-changed': handleOnly<'orders.order.status-changed'>(
    (event) => event.data.status === 'DELIVERED',
    async (event, em) => {
      await new PurchasesService(em).orderDelivered(event.data);
    },
  ),
};
