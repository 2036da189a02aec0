import type { EventHandlers, Logger } from '@shopgraph/kit';
import type { SagaMetrics } from '../domain/saga/saga-metrics.ts';
import { saga } from '../domain/saga/saga.service.ts';
import type { TransitionResult } from '../domain/status-changes.ts';

/**
 * The checkout saga as orders observes it (consumer group `orders.saga`): each step of inventory,
 * payments (fraud screening's hold and rejection included) and shipping moves the order's status. Each handler runs in the consumer's
 * transaction, so the status change, its events and the processed-message row commit together.
 * Shipping decides a CONFIRMED order's cancellation: `shipping.shipment.shipped` for an order
 * cancelled meanwhile means it came too late, and the order moves on from CANCELLED to SHIPPED.
 */
export function sagaHandlers(logger: Logger, metrics: SagaMetrics): EventHandlers {
  const outcome = (event: { id: string; type: string; data: { orderId: string } }) => (result: TransitionResult) => {
    if (typeof result === 'object') metrics.stepApplied(event.id, result);
    else if (result === 'unknown-order') logger.warn({ eventId: event.id, type: event.type, orderId: event.data.orderId }, 'saga event for an unknown order ignored');
    else if (result === 'ignored') logger.debug({ eventId: event.id, type: event.type, orderId: event.data.orderId }, 'saga event does not move the order; ignored');
  };
  return {
    'inventory.stock.reserved': (event, em) => saga.stockReserved(em, event.data).then(outcome(event)),
    'inventory.stock.rejected': (event, em) => saga.stockRejected(em, event.data).then(outcome(event)),
    'payments.payment.succeeded': (event, em) => saga.paymentSucceeded(em, event.data).then(outcome(event)),
    'payments.payment.failed': (event, em) => saga.paymentFailed(em, event.data).then(outcome(event)),
    'payments.payment.review-required': (event, em) => saga.paymentHeldForReview(em, event.data).then(outcome(event)),
    'payments.payment.rejected': (event, em) => saga.paymentRejected(em, event.data).then(outcome(event)),
    'shipping.shipment.shipped': (event, em) => saga.shipmentShipped(em, event.data).then(outcome(event)),
    'shipping.shipment.delivered': (event, em) => saga.shipmentDelivered(em, event.data).then(outcome(event)),
  };
}
