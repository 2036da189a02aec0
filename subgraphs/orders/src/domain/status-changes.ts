import { LockMode } from '@mikro-orm/core';
import { isUuid, recordEvent, type EntityManager } from '@shopgraph/kit';
import { Order } from '../entities/order.entity.ts';
import { OrderStatusChange } from '../entities/order-status-change.entity.ts';
import { canTransition, OrderStatus } from './order-status.ts';

/**
 * Reads an order and locks its row until the transaction ends (`for update`), so the status
 * changes of one order (saga events, cancellation, the sweeper) apply one at a time, each
 * seeing the one before.
 */
export async function lockOrder(em: EntityManager, orderId: string): Promise<Order | null> {
  if (!em.isInTransaction()) throw new Error('lockOrder needs a transaction');
  if (!isUuid(orderId)) return null;
  return em.findOne(Order, { id: orderId.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
}

/**
 * The one place an order's status changes: appends the next `order_status_change` (versions 1,
 * 2, 3… without gaps), updates the order, and records `orders.order.status-changed`, all in the
 * caller's transaction. Callers hold the order's row lock (or have just created the order) and
 * have checked the transition is legal. Live status subscriptions are fed from the event it
 * records, on every replica (events/live.handler.ts, domain/live/live-status.ts).
 */
export function recordStatusChange(em: EntityManager, order: Order, status: OrderStatus, reason: string | null, at = new Date()): OrderStatusChange {
  const version = order.statusVersion + 1;
  order.status = status;
  order.statusVersion = version;
  order.statusChangedAt = at;
  order.updatedAt = at;
  const change = em.create(OrderStatusChange, { order, version, status, reason, at });
  recordEvent(em, 'orders.order.status-changed', order.id, { orderId: order.id, userId: order.userId, version, status, reason, at: at.toISOString() });
  return change;
}

/** What became of a requested status change. */
export type TransitionResult = 'applied' | 'ignored' | 'unknown-order';

/**
 * Moves a locked order to `status` if the state machine allows it; anything else (a duplicate, a
 * late event, a final order) is ignored, which is not an error: the saga's events may arrive
 * late or twice. `reason` may depend on the status the order moves from.
 */
export async function transition(em: EntityManager, orderId: string, status: OrderStatus, reason: string | null | ((from: OrderStatus) => string | null)): Promise<TransitionResult> {
  const order = await lockOrder(em, orderId);
  if (!order) return 'unknown-order';
  if (!canTransition(order.status, status)) return 'ignored';
  const why = typeof reason === 'function' ? reason(order.status) : reason;
  if (status === OrderStatus.CANCELLED) cancelLocked(em, order, why ?? 'cancelled');
  else recordStatusChange(em, order, status, why);
  await em.flush();
  return 'applied';
}

/**
 * Cancels a locked, cancellable order: CANCELLED in its history, and `orders.order.cancelled`
 * naming the status it was cancelled from. Before CONFIRMED, inventory releases the reservation
 * and payments voids (or refunds) the payment on it. A CONFIRMED order has a shipment, so shipping decides:
 * it stops the shipment (`shipping.shipment.cancelled`, on which inventory restocks and payments
 * refunds), or the goods had left and the order moves on to SHIPPED (saga.service.ts).
 */
export function cancelLocked(em: EntityManager, order: Order, reason: string): void {
  if (!canTransition(order.status, OrderStatus.CANCELLED)) throw new Error(`Order ${order.id} in ${order.status} cannot be cancelled`);
  const previousStatus = order.status;
  recordStatusChange(em, order, OrderStatus.CANCELLED, reason);
  recordEvent(em, 'orders.order.cancelled', order.id, { orderId: order.id, userId: order.userId, reason, previousStatus });
}
