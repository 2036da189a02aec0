import type { EventHandlers } from '@shopgraph/kit';
import type { PaymentGateway } from '../domain/payment-provider.ts';
import { orderCancelledHandler } from './order-cancelled.handler.ts';
import { orderPlacedHandler } from './order-placed.handler.ts';
import { stockRejectedHandler } from './stock-rejected.handler.ts';
import { stockReservedHandler } from './stock-reserved.handler.ts';

/** The events payments takes part of the checkout saga from (consumer group `payments.saga`). */
export const sagaHandlers = (gateway: PaymentGateway): EventHandlers => ({
  'orders.order.placed': orderPlacedHandler(gateway),
  'inventory.stock.reserved': stockReservedHandler(gateway),
  'inventory.stock.rejected': stockRejectedHandler(gateway),
  'orders.order.cancelled': orderCancelledHandler(gateway),
});
