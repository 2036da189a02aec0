import type { EventData } from '@shopgraph/events';
import { advisoryLock, DomainError, isUuid, recordEvent, Scope, type EntityManager, type Identity } from '@shopgraph/kit';
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

/** A payment the API can show: the order's part is known (before that there is nothing to show). */
export type ShownPayment = Payment & { userId: string; amount: number; currency: string; method: string };

export const isShowable = (payment: Payment): payment is ShownPayment =>
  payment.userId != null && payment.amount != null && payment.currency != null && payment.method != null;

/** A payment is visible to the customer who placed the order and to staff. */
export function canView(viewer: Identity | null, payment: ShownPayment): boolean {
  return !!viewer && (isStaff(viewer) || viewer.userId.toLowerCase() === payment.userId.toLowerCase());
}

export const isStaff = (viewer: Identity | null): boolean => !!viewer && viewer.scopes.has(Scope.STAFF);

export const amountOf = (payment: ShownPayment): Money => ({ amount: payment.amount, currency: payment.currency });

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
  async orderPlaced(order: EventData<'orders.order.placed'>): Promise<Payment> {
    const payment = await this.lockedPayment(order.orderId);
    if (payment.amount === null) {
      // The first placed event wins; a repeat of it (or a conflicting one) changes nothing.
      Object.assign(payment, {
        userId: order.userId,
        amount: order.total.amount,
        currency: order.total.currency,
        method: order.paymentMethod,
        shippingCountry: order.shippingAddress.country.toUpperCase(),
      });
    }
    return this.chargeIfReady(payment);
  }

  /** `inventory.stock.reserved`: the order's stock is held; charged if the order is already known. */
  async stockReserved(orderId: string): Promise<Payment> {
    const payment = await this.lockedPayment(orderId);
    payment.stockReserved = true;
    return this.chargeIfReady(payment);
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
      await payments.charge(payment);
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
  private async chargeIfReady(payment: Payment): Promise<Payment> {
    if (readyToCharge({ status: payment.status, orderKnown: isShowable(payment), stockReserved: payment.stockReserved }) && isShowable(payment)) {
      const screening = new ScreeningService(this.em);
      const fired = await screening.screen(payment);
      if (fired.length) this.hold(payment, fired, screening);
      else await this.charge(payment);
    }
    await this.em.flush();
    return payment;
  }

  private hold(payment: ShownPayment, rules: FiredRule[], screening: ScreeningService): void {
    payment.status = 'UNDER_REVIEW';
    screening.hold(payment, rules);
    recordEvent(this.em, 'payments.payment.review-required', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount: amountOf(payment), rules });
  }

  private async charge(payment: ShownPayment): Promise<void> {
    const amount = amountOf(payment);
    const result = await this.gateway.bind(this.em).charge({ idempotencyKey: chargeKey(payment.orderId), amount, method: payment.method });
    if (result.status === 'succeeded') {
      Object.assign(payment, { status: 'SUCCEEDED', providerReference: result.reference });
      recordEvent(this.em, 'payments.payment.succeeded', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount });
    } else {
      Object.assign(payment, { status: 'FAILED', failureCode: result.code, failureReason: result.message });
      recordEvent(this.em, 'payments.payment.failed', payment.id, { orderId: payment.orderId, paymentId: payment.id, amount, code: result.code, reason: result.message });
    }
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
