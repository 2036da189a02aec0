import { LockMode } from '@mikro-orm/core';
import type { EventData } from '@shopgraph/events';
import type { EntityManager } from '@shopgraph/kit';
import { Order } from '../../entities/order.entity.ts';
import { AWAITING_SAGA, OrderStatus } from '../order-status.ts';
import { cancelLocked, transition, type TransitionResult } from '../status-changes.ts';

export const SAGA_TIMEOUT_REASON = 'saga timed out';

/** Why an order is out of stock, naming each product that is short. */
export function outOfStockReason(data: EventData<'inventory.stock.rejected'>): string {
  if (!data.shortages.length) return data.reason || 'Out of stock';
  const products = data.shortages.map((s) => `product ${s.productId} (${s.requested} requested, ${Math.max(0, s.available)} available)`);
  return `Out of stock: ${products.join(', ')}`;
}

export function paymentFailedReason(data: EventData<'payments.payment.failed'>): string {
  return data.reason ? `${data.reason} (${data.code})` : `Payment failed (${data.code})`;
}

/** Shown to the customer: which rules fired is for staff only (payments' `Order.screening`). */
export const UNDER_REVIEW_REASON = 'Held for a payment review';
export const REJECTED_REASON = 'Rejected after a payment review';

/** Why an order is SHIPPED: its tracking number, and from CANCELLED, that the cancellation came too late. */
export function shippedReason(data: EventData<'shipping.shipment.shipped'>, from: OrderStatus): string {
  const tracking = `Tracking number ${data.trackingNumber}`;
  return from === OrderStatus.CANCELLED ? `Not cancelled: the order had already shipped. ${tracking}` : tracking;
}

/**
 * A payment outcome proves the stock was reserved (payments charges only after that), even when
 * the reservation event has not been seen yet: record the reservation first, then the outcome.
 */
async function afterReservation(em: EntityManager, orderId: string, status: OrderStatus, reason: string | null): Promise<TransitionResult> {
  await transition(em, orderId, OrderStatus.STOCK_RESERVED, null);
  return transition(em, orderId, status, reason);
}

/**
 * How the checkout saga's steps move an order. Each method runs in the transaction of the event
 * being handled (`em`), under the order's row lock; a step the state machine does not allow is
 * ignored (late or repeated events are normal in a saga), never an error.
 */
export const saga = {
  stockReserved: (em: EntityManager, data: EventData<'inventory.stock.reserved'>): Promise<TransitionResult> =>
    transition(em, data.orderId, OrderStatus.STOCK_RESERVED, null),
  stockRejected: (em: EntityManager, data: EventData<'inventory.stock.rejected'>): Promise<TransitionResult> =>
    transition(em, data.orderId, OrderStatus.OUT_OF_STOCK, outOfStockReason(data)),
  paymentSucceeded: (em: EntityManager, data: EventData<'payments.payment.succeeded'>): Promise<TransitionResult> =>
    afterReservation(em, data.orderId, OrderStatus.CONFIRMED, null),
  paymentFailed: (em: EntityManager, data: EventData<'payments.payment.failed'>): Promise<TransitionResult> =>
    afterReservation(em, data.orderId, OrderStatus.PAYMENT_FAILED, paymentFailedReason(data)),
  /** Fraud screening held the payment; nothing was charged. */
  paymentHeldForReview: (em: EntityManager, data: EventData<'payments.payment.review-required'>): Promise<TransitionResult> =>
    afterReservation(em, data.orderId, OrderStatus.UNDER_REVIEW, UNDER_REVIEW_REASON),
  /** Staff rejected a held payment: a rejection is only ever of a held one, so the hold is implied too. */
  async paymentRejected(em: EntityManager, data: EventData<'payments.payment.rejected'>): Promise<TransitionResult> {
    await afterReservation(em, data.orderId, OrderStatus.UNDER_REVIEW, UNDER_REVIEW_REASON);
    return transition(em, data.orderId, OrderStatus.REJECTED, REJECTED_REASON);
  },
  /**
   * The goods left. Shipping marks a shipment shipped only while it is not cancelled, so for an
   * order CANCELLED meanwhile this is shipping's refusal of the cancellation: the order moves on to
   * SHIPPED, and payments and inventory, which wait for shipping's verdict on a CONFIRMED order's
   * cancellation, never compensate it.
   */
  shipmentShipped: (em: EntityManager, data: EventData<'shipping.shipment.shipped'>): Promise<TransitionResult> =>
    transition(em, data.orderId, OrderStatus.SHIPPED, (from) => shippedReason(data, from)),
  shipmentDelivered: (em: EntityManager, data: EventData<'shipping.shipment.delivered'>): Promise<TransitionResult> =>
    transition(em, data.orderId, OrderStatus.DELIVERED, null),

  /**
   * Cancels up to `limit` orders the saga has left in PENDING or STOCK_RESERVED since before
   * `stuckSince`, through the same cancellation as a customer's (so compensation follows). Rows
   * another replica (or a saga step) holds are skipped (`for update skip locked`), never waited on.
   * Returns the orders cancelled.
   */
  async cancelStuckOrders(em: EntityManager, stuckSince: Date, limit: number): Promise<Order[]> {
    if (!em.isInTransaction()) throw new Error('cancelStuckOrders needs a transaction');
    const stuck = await em.find(
      Order,
      { status: { $in: [...AWAITING_SAGA] }, statusChangedAt: { $lt: stuckSince } },
      { lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE, orderBy: { statusChangedAt: 'asc', id: 'asc' }, limit, refresh: true },
    );
    for (const order of stuck) cancelLocked(em, order, SAGA_TIMEOUT_REASON);
    await em.flush();
    return stuck;
  },
};
