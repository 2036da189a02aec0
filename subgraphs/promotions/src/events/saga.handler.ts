import { awaitsShippingVerdict } from '@shopgraph/events';
import { handleOnly, type EventHandlers, type Logger } from '@shopgraph/kit';
import type { PromotionsMetrics, RedemptionOutcome } from '../domain/promotions-metrics.ts';
import { RedemptionsService, type StepResult } from '../domain/redemptions.service.ts';

/** Order statuses that end an order's use of its coupon, and how. */
const SETTLES: Partial<Record<string, 'commit' | 'release'>> = { CONFIRMED: 'commit', OUT_OF_STOCK: 'release', PAYMENT_FAILED: 'release', REJECTED: 'release' };

/** Why a cancelled order's use went back to the coupon. */
const CANCELLED = 'CANCELLED';

/**
 * Promotions' part of the checkout saga (consumer group `promotions.saga`): an order's coupon use
 * is placed with the order, committed when it is confirmed, and released when it fails or is
 * cancelled. Each runs in the consumer's transaction, next to its processed-message row; a step the
 * redemption's state does not allow (repeated, late) is ignored. Events of orders without a coupon
 * find no redemption and change nothing. A CONFIRMED order's cancellation waits for shipping's
 * verdict: `shipping.shipment.cancelled` releases; if the goods had left, the use stays committed.
 */
export function sagaHandlers(logger: Logger, metrics: PromotionsMetrics): EventHandlers {
  const outcome = (event: { id: string; type: string; data: { orderId: string } }, step: RedemptionOutcome | null) => (result: StepResult) => {
    if (result === 'applied' && step) metrics.stepApplied(event.id, step);
    else if (result === 'ignored') logger.debug({ eventId: event.id, type: event.type, orderId: event.data.orderId }, 'saga event does not move the redemption; ignored');
  };
  return {
    'orders.order.placed': handleOnly<'orders.order.placed'>(
      (event) => event.data.coupon !== undefined,
      async (event, em) => {
        const result = await new RedemptionsService(em).placed(event.data.orderId);
        // placeOrder reserves before it commits the order: a placed order with a coupon and no redemption should not be.
        if (result === 'unknown') logger.warn({ eventId: event.id, orderId: event.data.orderId, coupon: event.data.coupon?.code }, 'order placed with a coupon promotions never reserved; ignored');
        outcome(event, null)(result);
      },
    ),
    'orders.order.status-changed': handleOnly<'orders.order.status-changed'>(
      (event) => SETTLES[event.data.status] !== undefined,
      async (event, em) => {
        const redemptions = new RedemptionsService(em);
        const { orderId, status } = event.data;
        if (SETTLES[status] === 'commit') await redemptions.commit(orderId).then(outcome(event, 'committed'));
        else await redemptions.release(orderId, status).then(outcome(event, 'released'));
      },
    ),
    'orders.order.cancelled': handleOnly<'orders.order.cancelled'>(
      (event) => !awaitsShippingVerdict(event.data),
      async (event, em) => {
        await new RedemptionsService(em).release(event.data.orderId, CANCELLED).then(outcome(event, 'released'));
      },
    ),
    'shipping.shipment.cancelled': async (event, em) => {
      await new RedemptionsService(em).release(event.data.orderId, CANCELLED).then(outcome(event, 'released'));
    },
  };
}
