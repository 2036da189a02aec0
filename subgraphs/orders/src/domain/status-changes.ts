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
 * An order's status change, for an order held as an entity (a cancellation: the customer's,
 * staff's or the sweeper's; placeOrder and the saga's steps, `transition`, write the same in SQL):
 * appends the next `order_status_change` (versions 1, 2, 3… without gaps), updates the order, and
 * records `orders.order.status-changed`, all in the caller's transaction. Callers hold the order's
 * row lock and have checked the transition is legal. Live status subscriptions are fed from the
 * event it records, on every replica (events/live.handler.ts, domain/live/live-status.ts).
 */
function recordStatusChange(em: EntityManager, order: Order, status: OrderStatus, reason: string | null, at = new Date()): void {
  const version = order.statusVersion + 1;
  order.status = status;
  order.statusVersion = version;
  order.statusChangedAt = at;
  order.updatedAt = at;
  em.create(OrderStatusChange, { order, version, status, reason, at });
  recordStatusChanged(em, { orderId: order.id, userId: order.userId, version, status, reason, at });
}

/** Records `orders.order.status-changed` for a change the caller writes in the same transaction. */
export function recordStatusChanged(em: EntityManager, change: { orderId: string; userId: string; version: number; status: OrderStatus; reason: string | null; at: Date }): void {
  const { orderId, at } = change;
  recordEvent(em, 'orders.order.status-changed', orderId, { ...change, at: at.toISOString() });
}

/** An order a transition moved, as it is now: what the saga's metrics need of it. */
export interface MovedOrder {
  id: string;
  status: OrderStatus;
  createdAt: Date;
}

/** What became of a requested status change: the order it moved, or why nothing changed. */
export type TransitionResult = MovedOrder | 'ignored' | 'unknown-order';

interface LockedOrderRow {
  id: string;
  user_id: string;
  status: OrderStatus;
  status_version: number;
  /** As MikroORM's driver reads timestamps: text. */
  created_at: string;
}

const LOCK_ORDER = 'select id, user_id, status, status_version, created_at from customer_order where id = ? for update';
/** The locked order's new status, and the same appended to its history. */
const MOVE_STATUS = `with moved as (update customer_order set status = ?, status_version = ?, status_changed_at = ?, updated_at = ? where id = ?)
insert into order_status_change (order_id, version, status, reason, at) values (?, ?, ?, ?, ?)`;

/**
 * Moves an order to `status` if the state machine allows it; anything else (a duplicate, a late
 * event, a final order) is ignored, which is not an error: the saga's events may arrive late or
 * twice. `reason` may depend on the status the order moves from. Locks the order's row first, as
 * `lockOrder` does. Every saga step of every order comes through here, so its statements are
 * written out (what `recordStatusChange` does through the ORM, whose lookup and flush cost more
 * than the change).
 */
export async function transition(em: EntityManager, orderId: string, status: OrderStatus, reason: string | null | ((from: OrderStatus) => string | null)): Promise<TransitionResult> {
  if (status === OrderStatus.CANCELLED) throw new Error('an order is cancelled through cancelLocked: its cancellation names what it compensates');
  if (!em.isInTransaction()) throw new Error('transition needs a transaction');
  if (!isUuid(orderId)) return 'unknown-order';
  const [order] = await em.execute<LockedOrderRow[]>(LOCK_ORDER, [orderId.toLowerCase()]);
  if (!order) return 'unknown-order';
  if (!canTransition(order.status, status)) return 'ignored';
  const why = (typeof reason === 'function' ? reason(order.status) : reason) ?? null;
  const version = order.status_version + 1;
  const at = new Date();
  await em.execute(MOVE_STATUS, [status, version, at, at, order.id, order.id, version, status, why, at]);
  recordStatusChanged(em, { orderId: order.id, userId: order.user_id, version, status, reason: why, at });
  return { id: order.id, status, createdAt: new Date(order.created_at) };
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
