import { LockMode } from '@mikro-orm/postgresql';
import { awaitsShippingVerdict, type EventData } from '@shopgraph/events';
import { ADVISORY_LOCK_SQL, advisoryLock, DomainError, isUuid, recordEvent, Scope, type EntityManager, type Identity } from '@shopgraph/kit';
import { randomInt } from 'node:crypto';
import { ShipmentEvent } from '../entities/shipment-event.entity.ts';
import { SHIPMENT_STATUSES, Shipment, type ShipmentStatus } from '../entities/shipment.entity.ts';

/** A shipment as the API shows it: its tracking history included, oldest first. */
export interface ShipmentView {
  id: string;
  orderId: string;
  userId: string;
  status: ShipmentStatus;
  trackingNumber: string;
  events: { status: ShipmentStatus; description: string; at: Date }[];
}

/** The moves staff (or a courier hook) make; cancellation comes only with the order. */
export type Move = 'SHIPPED' | 'DELIVERED';

const MOVE_FROM: Record<Move, ShipmentStatus> = { SHIPPED: 'PENDING', DELIVERED: 'SHIPPED' };

/**
 * Whether a shipment in `current` can be marked `to`: the next step applies; the status it is
 * already in is a no-op success (a courier retrying its call); anything else is invalid
 * (delivering before shipping, shipping something cancelled or already delivered).
 */
export function moveOf(current: ShipmentStatus, to: Move): 'apply' | 'noop' | 'invalid' {
  if (current === to) return 'noop';
  return MOVE_FROM[to] === current ? 'apply' : 'invalid';
}

/** Only a shipment still waiting in the warehouse is cancelled with its order; one on its way is not. */
export const cancelsWithOrder = (status: ShipmentStatus): boolean => status === 'PENDING';

const DESCRIPTIONS: Record<ShipmentStatus, string> = {
  PENDING: 'Shipment created; waiting to be handed to the carrier',
  SHIPPED: 'Handed to the carrier',
  DELIVERED: 'Delivered',
  CANCELLED: 'Cancelled with the order',
};

/** Digits and capitals without I and O (read aloud or copied by hand without confusion). */
const TRACKING_ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';

/**
 * `SG` and 10 random characters (34^10, about 2·10^15 numbers). The unique constraint catches the
 * improbable repeat: the handler's transaction fails and its retry draws another number.
 */
export function newTrackingNumber(): string {
  let number = 'SG';
  for (let i = 0; i < 10; i++) number += TRACKING_ALPHABET[randomInt(TRACKING_ALPHABET.length)];
  return number;
}

/** A shipment is visible to the customer who placed the order and to staff. */
export function canView(viewer: Identity | null, shipment: Pick<ShipmentView, 'userId'>): boolean {
  return !!viewer && (viewer.scopes.has(Scope.STAFF) || viewer.userId.toLowerCase() === shipment.userId.toLowerCase());
}

const notFound = () => new DomainError('SHIPMENT_NOT_FOUND', 'This order has no shipment', ['input', 'orderId']);

/**
 * A new PENDING shipment of an order and its first tracking step, unless the order has one: the
 * row comes from the advisory lock every creator of the order's shipment takes (`create` callers
 * too), and an existing shipment (even one committed while the lock was awaited) is the conflict
 * that inserts nothing. Parameters: the shipment's id, order id, user id, tracking number, created
 * and updated at, the lock's name, the step's description and time.
 */
const CREATE_SHIPMENT = `with created as (
    insert into shipment (id, order_id, user_id, status, tracking_number, created_at, updated_at)
    select ?::uuid, ?::uuid, ?::uuid, 'PENDING', ?::varchar, ?::timestamptz, ?::timestamptz
    from (select ${ADVISORY_LOCK_SQL}) as locked
    on conflict (order_id) do nothing
    returning id)
  insert into shipment_event (shipment_id, status, description, at) select id, 'PENDING', ?, ? from created
  returning shipment_id`;

/**
 * Business rules of shipping; the only code that changes shipments and records their events.
 * The saga steps run in the consumer's transaction (`em`); staff moves run in their own.
 */
export class ShippingService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** The shipments of orders, by order id (orders without one are missing). */
  async forOrders(orderIds: readonly string[]): Promise<Map<string, ShipmentView>> {
    const valid = [...new Set(orderIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const shipments = valid.length ? await this.em.find(Shipment, { orderId: { $in: valid } }) : [];
    return new Map((await views(this.em, shipments)).map((view) => [view.orderId, view]));
  }

  /**
   * `orders.order.status-changed`: a CONFIRMED order gets its shipment, once; other statuses are
   * not shipping's business. Every confirmed order comes through here, so it is one statement
   * (see CREATE_SHIPMENT) and the event, not the ORM's lookup and flush. Answers whether it
   * created the shipment.
   */
  async orderStatusChanged(change: EventData<'orders.order.status-changed'>): Promise<boolean> {
    if (change.status !== 'CONFIRMED') return false;
    if (!this.em.isInTransaction()) throw new Error('a saga step needs a transaction');
    const orderId = change.orderId.toLowerCase();
    const at = new Date();
    const shipment = { id: crypto.randomUUID(), trackingNumber: newTrackingNumber() };
    const created = await this.em.execute<unknown[]>(CREATE_SHIPMENT, [
      shipment.id, orderId, change.userId.toLowerCase(), shipment.trackingNumber, at, at, `shipment:${orderId}`, DESCRIPTIONS.PENDING, at,
    ]);
    if (!created.length) return false;
    recordEvent(this.em, 'shipping.shipment.created', shipment.id, { orderId, shipmentId: shipment.id, trackingNumber: shipment.trackingNumber });
    return true;
  }

  /**
   * `orders.order.cancelled`: shipping decides whether the cancellation stands, since only it
   * knows whether the goods left. A PENDING shipment is CANCELLED and `shipping.shipment.cancelled`
   * recorded, on which payments refunds and inventory restocks. One already shipped (or delivered)
   * stays as it is and nothing is recorded: its `shipping.shipment.shipped`, published before,
   * is the refusal (orders moves the order on to SHIPPED; nobody compensates). The shipment's row
   * lock makes this and `markShipped` take turns, so exactly one of the two wins. An order without
   * a shipment (cancelled before CONFIRMED) has nothing to cancel.
   */
  async orderCancelled(order: EventData<'orders.order.cancelled'>): Promise<Shipment | null> {
    const orderId = order.orderId.toLowerCase();
    // The lock the creation of the order's shipment takes: it may be created here too.
    await advisoryLock(this.em, `shipment:${orderId}`);
    const found = await this.em.findOne(Shipment, { orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    // A CONFIRMED order whose shipment is not there (its CONFIRMED event still to come, e.g. a dead
    // letter) gets one cancelled at once: the verdict still comes, and a late CONFIRMED adds none.
    const shipment = found ?? (awaitsShippingVerdict(order) ? this.create(orderId, order.userId) : null);
    if (!shipment || !cancelsWithOrder(shipment.status)) return shipment;
    const at = new Date();
    shipment.status = 'CANCELLED';
    this.em.create(ShipmentEvent, { shipment, status: 'CANCELLED', description: DESCRIPTIONS.CANCELLED, at });
    recordEvent(this.em, 'shipping.shipment.cancelled', shipment.id, {
      orderId: shipment.orderId,
      shipmentId: shipment.id,
      trackingNumber: shipment.trackingNumber,
      reason: order.reason,
      at: at.toISOString(),
    });
    await this.em.flush();
    return shipment;
  }

  markShipped(orderId: string): Promise<ShipmentView> {
    return this.move(orderId, 'SHIPPED');
  }

  markDelivered(orderId: string): Promise<ShipmentView> {
    return this.move(orderId, 'DELIVERED');
  }

  /** A new PENDING shipment of an order, with its first tracking step and `shipping.shipment.created`; not flushed. */
  private create(orderId: string, userId: string): Shipment {
    const at = new Date();
    const shipment = this.em.create(Shipment, { id: crypto.randomUUID(), orderId, userId: userId.toLowerCase(), status: 'PENDING', trackingNumber: newTrackingNumber(), createdAt: at, updatedAt: at });
    this.em.create(ShipmentEvent, { shipment, status: 'PENDING', description: DESCRIPTIONS.PENDING, at });
    recordEvent(this.em, 'shipping.shipment.created', shipment.id, { orderId, shipmentId: shipment.id, trackingNumber: shipment.trackingNumber });
    return shipment;
  }

  private async move(orderId: string, to: Move): Promise<ShipmentView> {
    if (!isUuid(orderId)) throw notFound();
    return this.em.transactional(async (em) => {
      // Locked: a cancellation or another move of this shipment waits for this one.
      const shipment = await em.findOne(Shipment, { orderId: orderId.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!shipment) throw notFound();
      const move = moveOf(shipment.status, to);
      if (move === 'invalid') throw new DomainError('INVALID_TRANSITION', `A ${shipment.status} shipment cannot be marked ${to}`, ['input', 'orderId']);
      if (move === 'apply') {
        const at = new Date();
        shipment.status = to;
        em.create(ShipmentEvent, { shipment, status: to, description: DESCRIPTIONS[to], at });
        const data = { orderId: shipment.orderId, shipmentId: shipment.id, trackingNumber: shipment.trackingNumber, at: at.toISOString() };
        recordEvent(em, to === 'SHIPPED' ? 'shipping.shipment.shipped' : 'shipping.shipment.delivered', shipment.id, data);
        await em.flush();
      }
      return (await views(em, [shipment]))[0]!;
    });
  }
}

async function views(em: EntityManager, shipments: Shipment[]): Promise<ShipmentView[]> {
  if (!shipments.length) return [];
  const events = await em.find(ShipmentEvent, { shipment: { $in: shipments.map((s) => s.id) } });
  const rank = (status: ShipmentStatus) => SHIPMENT_STATUSES.indexOf(status);
  return shipments.map((shipment) => ({
    id: shipment.id,
    orderId: shipment.orderId,
    userId: shipment.userId,
    status: shipment.status,
    trackingNumber: shipment.trackingNumber,
    events: events
      .filter((event) => event.shipment.id === shipment.id)
      .sort((a, b) => a.at.getTime() - b.at.getTime() || rank(a.status) - rank(b.status))
      .map(({ status, description, at }) => ({ status, description, at })),
  }));
}
