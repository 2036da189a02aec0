import type { EventData } from '@shopgraph/events';
import { ADVISORY_LOCK_SQL, advisoryLock, DomainError, isUuid, recordEvent, Scope, type EntityManager, type Identity } from '@shopgraph/kit';
import { Payment, type PaymentStatus } from '../entities/payment.entity.ts';
import type { FiredRule } from '../entities/screening-decision.entity.ts';
import type { Money, PaymentGateway } from './payment-provider.ts';
import { ScreeningService, validReason } from './screening.service.ts';

/** The idempotency keys payments uses with its provider: the order id charges, a derived key refunds. */
export const chargeKey = (orderId: string): string => orderId;
export const refundKey = (orderId: string): string => `refund:${orderId}`;

/** What the saga has told payments about an order so far. */
export interface PaymentFacts {
  status: PaymentStatus;
  /** `orders.order.placed` arrived: user, amount and method are known. */
  orderKnown: boolean;
  /** `inventory.stock.reserved` arrived. */
  stockReserved: boolean;
}

/**
 * A payment is charged once it is still pending and both the order and its stock reservation are
 * known, whichever of the two events came first. A stock rejection means stock.reserved never
 * comes, so such an order is never charged.
 */
export const readyToCharge = (facts: PaymentFacts): boolean => facts.status === 'PENDING' && facts.orderKnown && facts.stockReserved;

/** What cancelling the order does to its payment: refund a captured one, void a pending or held one, else nothing. */
export function onOrderCancelled(status: PaymentStatus): 'refund' | 'cancel' | 'none' {
  if (status === 'SUCCEEDED') return 'refund';
  if (status === 'PENDING' || status === 'UNDER_REVIEW') return 'cancel';
  return 'none';
}

/** The order's part of a payment, known once `orders.order.placed` was handled. */
type OrderPart = { userId: string; amount: number; currency: string; method: string };

/** A payment the API can show: the order's part is known (before that there is nothing to show). */
export type ShownPayment = Payment & OrderPart;

export const isShowable = <P extends { [K in keyof OrderPart]?: OrderPart[K] | null }>(payment: P): payment is P & OrderPart =>
  payment.userId != null && payment.amount != null && payment.currency != null && payment.method != null;

/** A payment is visible to the customer who placed the order and to staff. */
export function canView(viewer: Identity | null, payment: ShownPayment): boolean {
  return !!viewer && (isStaff(viewer) || viewer.userId.toLowerCase() === payment.userId.toLowerCase());
}

export const isStaff = (viewer: Identity | null): boolean => !!viewer && viewer.scopes.has(Scope.STAFF);

export const amountOf = (payment: Pick<OrderPart, 'amount' | 'currency'>): Money => ({ amount: payment.amount, currency: payment.currency });

/** The fields of a payment the saga's hot steps read. */
export interface SagaPayment {
  id: string;
  orderId: string;
  userId: string | null;
  amount: number | null;
  currency: string | null;
  method: string | null;
  shippingCountry: string | null;
  status: PaymentStatus;
  stockReserved: boolean;
}
/** What charging (or holding) a payment reads of it. */
type Chargeable = Pick<SagaPayment, 'id' | 'orderId'> & OrderPart;

/** What screening or a charge made of a payment: its new status, and the charge's reference or failure. */
type ChargeOutcome = Pick<Payment, 'status'> & Partial<Pick<Payment, 'providerReference' | 'failureCode' | 'failureReason'>>;

// The insert's row comes from the advisory lock's subquery, so the lock (advisoryLock's, on
// `payment:<order id>`, which the ORM paths take) is held before the row is inserted or changed.
// ON CONFLICT DO UPDATE changes the row's latest version: what a transaction that held the lock
// before committed is seen. Parameters: id, order id, the step's values, the lock's name.
const LOCKED = `from (select ${ADVISORY_LOCK_SQL}) as locked`;
const RETURNING = 'returning id, order_id as "orderId", user_id as "userId", amount, currency, method, shipping_country as "shippingCountry", status, stock_reserved as "stockReserved"';
/** The first placed event fills the order's part (user, total, method, country); a repeat of it changes nothing. */
const ON_ORDER_PLACED = `insert into payment (id, order_id, status, stock_reserved, user_id, amount, currency, method, shipping_country, created_at, updated_at)
  select ?::uuid, ?::uuid, 'PENDING', false, ?::uuid, ?::int, ?::varchar, ?::varchar, ?::varchar, ?::timestamptz, ?::timestamptz ${LOCKED}
  on conflict (order_id) do update set
    user_id = case when payment.amount is null then excluded.user_id else payment.user_id end,
    amount = case when payment.amount is null then excluded.amount else payment.amount end,
    currency = case when payment.amount is null then excluded.currency else payment.currency end,
    method = case when payment.amount is null then excluded.method else payment.method end,
    shipping_country = case when payment.amount is null then excluded.shipping_country else payment.shipping_country end,
    updated_at = case when payment.amount is null then excluded.updated_at else payment.updated_at end
  ${RETURNING}`;
const ON_STOCK_RESERVED = `insert into payment (id, order_id, status, stock_reserved, created_at, updated_at)
  select ?::uuid, ?::uuid, 'PENDING', true, ?::timestamptz, ?::timestamptz ${LOCKED}
  on conflict (order_id) do update set
    stock_reserved = true,
    updated_at = case when payment.stock_reserved then payment.updated_at else excluded.updated_at end
  ${RETURNING}`;
const SET_OUTCOME = 'update payment set status = ?, provider_reference = ?, failure_code = ?, failure_reason = ?, updated_at = ? where id = ?';

/**
 * Business rules of payments; the only code that changes payments and records their events.
 * The saga steps run inside the consumer's transaction (`em`), where the provider's effects,
 * the payment's new state and its event all commit together, or not at all.
 */
export class PaymentService {
  private readonly em: EntityManager;
  private readonly gateway: PaymentGateway;

  constructor(em: EntityManager, gateway: PaymentGateway) {
    this.em = em;
    this.gateway = gateway;
  }

  /** The payments of orders, by order id (orders payments has not heard of are missing). */
  async forOrders(orderIds: readonly string[]): Promise<Map<string, Payment>> {
    const valid = [...new Set(orderIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const rows = valid.length ? await this.em.find(Payment, { orderId: { $in: valid } }) : [];
    return new Map(rows.map((payment) => [payment.orderId, payment]));
  }

  /** `orders.order.placed`: the payment intent gets the order's user, total and method; charged if the stock is already reserved. */
  async orderPlaced(order: EventData<'orders.order.placed'>): Promise<void> {
    const now = new Date();
    // The first placed event wins; a repeat of it (or a conflicting one) changes nothing.
    const payment = await this.claim(ON_ORDER_PLACED, order.orderId, [
      order.userId, order.total.amount, order.total.currency, order.paymentMethod, order.shippingAddress.country.toUpperCase(), now, now,
    ]);
    await this.chargeIfReady(payment);
  }

  /** `inventory.stock.reserved`: the order's stock is held; charged if the order is already known. */
  async stockReserved(orderId: string): Promise<void> {
    const now = new Date();
    const payment = await this.claim(ON_STOCK_RESERVED, orderId, [now, now]);
    await this.chargeIfReady(payment);
  }

  /**
   * `inventory.stock.rejected`: the order can never be paid for, so its intent is cancelled
   * (PENDING only; nothing was charged, since charging waits for reserved stock).
   */
  async stockRejected(orderId: string): Promise<Payment> {
    const payment = await this.lockedPayment(orderId);
    if (payment.status === 'PENDING') payment.status = 'CANCELLED';
    await this.em.flush();
    return payment;
  }

  /**
   * The order's cancellation stands (`orders.order.cancelled` before CONFIRMED, or
   * `shipping.shipment.cancelled` after): a captured payment is refunded, a pending one is
   * cancelled so it is never charged later; failed, refunded or cancelled payments stay as they
   * are. An order payments has not heard of gets a CANCELLED payment. That row is the order's
   * tombstone: a late `orders.order.placed` or `inventory.stock.reserved` (still in flight, or a
   * dead letter replayed) finds a payment that is no longer PENDING, and charges nothing.
   */
  async orderCancelled(order: { orderId: string; userId?: string }): Promise<Payment> {
    const payment = await this.lockedPayment(order.orderId);
    payment.userId ??= order.userId ?? null;
    switch (onOrderCancelled(payment.status)) {
      case 'cancel':
        // A payment held for review is voided too: its review is closed, undecided.
        if (payment.status === 'UNDER_REVIEW') await new ScreeningService(this.em).decide(payment.orderId, 'CANCELLED', null);
        payment.status = 'CANCELLED';
        break;
      case 'refund': {
        const shown = payment as ShownPayment;
        await this.gateway.bind(this.em).refund({ idempotencyKey: refundKey(payment.orderId), reference: payment.providerReference!, amount: amountOf(shown) });
        payment.status = 'REFUNDED';
        recordEvent(this.em, 'payments.payment.refunded', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount: amountOf(shown) });
        break;
      }
      case 'none':
        break;
    }
    await this.em.flush();
    return payment;
  }

  /**
   * Staff approve an order fraud screening held: the review is closed as APPROVED (by whom, when)
   * and the payment is charged now, as it would have been (succeeded or failed, with its event).
   */
  approveHeld(orderId: string, reviewerId: string): Promise<Payment> {
    return this.inTransaction(async (payments, em) => {
      const payment = await payments.heldForReview(orderId);
      await new ScreeningService(em).decide(payment.orderId, 'APPROVED', reviewerId);
      Object.assign(payment, await payments.charge(payment));
      await em.flush();
      return payment;
    });
  }

  /** Staff reject an order fraud screening held: never charged; `payments.payment.rejected` compensates like a failure. */
  rejectHeld(orderId: string, reviewerId: string, reason: string): Promise<Payment> {
    const why = validReason(reason);
    return this.inTransaction(async (payments, em) => {
      const payment = await payments.heldForReview(orderId);
      await new ScreeningService(em).decide(payment.orderId, 'REJECTED', reviewerId, why);
      payment.status = 'REJECTED';
      recordEvent(em, 'payments.payment.rejected', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount: amountOf(payment), reason: why });
      await em.flush();
      return payment;
    });
  }

  /** Screening runs right before the charge: a rule firing holds the payment for review instead (no charge). */
  private async chargeIfReady(payment: SagaPayment): Promise<void> {
    if (!isShowable(payment) || !readyToCharge({ status: payment.status, orderKnown: true, stockReserved: payment.stockReserved })) return;
    const screening = new ScreeningService(this.em);
    const fired = await screening.screen(payment);
    const outcome = fired.length ? this.hold(payment, fired, screening) : await this.charge(payment);
    await this.em.execute(SET_OUTCOME, [outcome.status, outcome.providerReference ?? null, outcome.failureCode ?? null, outcome.failureReason ?? null, new Date(), payment.id]);
  }

  private hold(payment: Chargeable, rules: FiredRule[], screening: ScreeningService): ChargeOutcome {
    screening.hold(payment, rules);
    recordEvent(this.em, 'payments.payment.review-required', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount: amountOf(payment), rules });
    return { status: 'UNDER_REVIEW' };
  }

  /** Charges the payment, records the event of its outcome and answers the payment's new fields. */
  private async charge(payment: Chargeable): Promise<ChargeOutcome> {
    const amount = amountOf(payment);
    const result = await this.gateway.bind(this.em).charge({ idempotencyKey: chargeKey(payment.orderId), amount, method: payment.method });
    if (result.status === 'succeeded') {
      recordEvent(this.em, 'payments.payment.succeeded', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount });
      return { status: 'SUCCEEDED', providerReference: result.reference };
    }
    recordEvent(this.em, 'payments.payment.failed', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount, code: result.code, reason: result.message });
    return { status: 'FAILED', failureCode: result.code, failureReason: result.message };
  }

  /** The order's payment held for review, locked like the saga's steps lock it (a cancellation or a second decision waits). */
  private async heldForReview(orderId: string): Promise<ShownPayment> {
    const notFound = new DomainError('ORDER_NOT_FOUND', 'Payments knows no order with this id', ['input', 'orderId']);
    if (!isUuid(orderId)) throw notFound;
    const id = orderId.toLowerCase();
    await advisoryLock(this.em, `payment:${id}`);
    const payment = await this.em.findOne(Payment, { orderId: id }, { refresh: true });
    if (!payment || !isShowable(payment)) throw notFound;
    if (payment.status !== 'UNDER_REVIEW') throw new DomainError('ORDER_NOT_IN_REVIEW', `The order's payment is ${payment.status}, not held for review`, ['input', 'orderId']);
    return payment;
  }

  /** Runs `work` on this service bound to a new transaction (the staff mutations; saga steps run in the consumer's). */
  private inTransaction<T>(work: (payments: PaymentService, em: EntityManager) => Promise<T>): Promise<T> {
    return this.em.transactional((em) => work(new PaymentService(em, this.gateway), em));
  }

  /**
   * The order's payment after `upsert` (ON_ORDER_PLACED or ON_STOCK_RESERVED), created PENDING if
   * this is the first event about the order, and held for the rest of the transaction like
   * `lockedPayment` holds it: the saga's two hot steps in one statement each, not the ORM's lookup
   * and flush, which cost more than the step.
   */
  private async claim(upsert: string, orderId: string, values: unknown[]): Promise<SagaPayment> {
    if (!this.em.isInTransaction()) throw new Error('a saga step needs a transaction');
    const id = orderId.toLowerCase();
    const [payment] = await this.em.execute<SagaPayment[]>(upsert, [crypto.randomUUID(), id, ...values, `payment:${id}`]);
    return payment!;
  }

  /**
   * The order's payment, created (PENDING) if this is the first event about the order, and held
   * for the rest of the transaction: the two events that complete a payment may be handled at
   * the same moment, and the second must see what the first wrote.
   */
  private async lockedPayment(orderId: string): Promise<Payment> {
    const id = orderId.toLowerCase();
    await advisoryLock(this.em, `payment:${id}`);
    const found = await this.em.findOne(Payment, { orderId: id }, { refresh: true });
    return (
      found ??
      this.em.create(Payment, { id: crypto.randomUUID(), orderId: id, status: 'PENDING', stockReserved: false, userId: null, amount: null, currency: null, method: null })
    );
  }
}
