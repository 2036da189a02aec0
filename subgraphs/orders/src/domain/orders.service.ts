import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { DomainError, isUuid, recordEvent, Scope, transactionWithEvents, type EntityManager, type Identity } from '@shopgraph/kit';
import { Order } from '../entities/order.entity.ts';
import { OrderLine } from '../entities/order-line.entity.ts';
import { OrderStatusChange } from '../entities/order-status-change.entity.ts';
import { validAddress, validIdempotencyKey, type AddressInput } from './address.ts';
import type { Checkout, CheckoutSource, CouponReservation, Money } from './checkout-source.ts';
import { isCancellable, OrderStatus } from './order-status.ts';
import { cancelLocked, lockOrder, recordStatusChanged } from './status-changes.ts';

export interface PlaceOrderInput {
  idempotencyKey: string;
  shippingAddress: AddressInput;
  paymentMethod: string;
}

export interface OrderPage {
  orders: Order[];
  hasNextPage: boolean;
  totalCount: number;
}

export const MAX_PAGE_SIZE = 100;

export const isStaff = (viewer: Identity): boolean => viewer.scopes.has(Scope.STAFF);

/** An order is visible to the customer who placed it and to staff. */
export const canView = (viewer: Identity | null, ownerId: string): boolean =>
  !!viewer && (viewer.userId.toLowerCase() === ownerId.toLowerCase() || isStaff(viewer));

/** Cursor over a customer's orders, newest first (created_at, id); opaque to clients. */
export function encodeCursor(order: Pick<Order, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([order.createdAt.toISOString(), order.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && isUuid(value[1])) {
      const createdAt = new Date(value[0]);
      if (!Number.isNaN(createdAt.getTime())) return { createdAt, id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'Cursor is not one this API returned', ['after']);
}

/** The lines of a checkout an order can be made of: one per product (quantities summed), one currency, and the total. */
export function priceLines(checkout: Checkout): { lines: Checkout['lines']; total: Money } {
  const byProduct = new Map<string, Checkout['lines'][number]>();
  for (const line of checkout.lines) {
    if (!isUuid(line.productId) || !Number.isSafeInteger(line.quantity) || line.quantity < 1) throw new Error(`Checkout has a malformed line: ${JSON.stringify(line)}`);
    if (!Number.isSafeInteger(line.unitPrice.amount) || line.unitPrice.amount < 0 || !/^[A-Z]{3}$/.test(line.unitPrice.currency)) {
      throw new Error(`Checkout has a malformed price: ${JSON.stringify(line.unitPrice)}`);
    }
    const productId = line.productId.toLowerCase();
    const seen = byProduct.get(productId);
    byProduct.set(productId, seen ? { ...seen, quantity: seen.quantity + line.quantity } : { ...line, productId });
  }
  const lines = [...byProduct.values()];
  const currency = lines[0]?.unitPrice.currency ?? 'USD';
  if (lines.some((line) => line.unitPrice.currency !== currency)) throw new Error('Checkout prices are in more than one currency');
  const amount = lines.reduce((sum, line) => sum + line.unitPrice.amount * line.quantity, 0);
  if (!Number.isSafeInteger(amount)) throw new Error('Order total overflows');
  return { lines, total: { amount, currency } };
}

/** The lines' sum less a coupon's discount, which promotions caps at the sum (never a negative total). */
export function discounted(subtotal: Money, coupon: CouponReservation | null): Money {
  if (!coupon) return subtotal;
  const { amount, currency } = coupon.discount;
  if (currency !== subtotal.currency || !Number.isSafeInteger(amount) || amount <= 0 || amount > subtotal.amount) {
    throw new Error(`Coupon ${coupon.code} took off ${amount} ${currency} from ${subtotal.amount} ${subtotal.currency}`);
  }
  return { amount: subtotal.amount - amount, currency };
}

/** A placed order; with the lines and history its transaction wrote when it made the order (not when a key answered with an earlier one). */
export interface PlacedOrder {
  order: Order;
  written?: { lines: OrderLine[]; history: OrderStatusChange[] };
}

/** Business rules of placing, cancelling and reading orders; the only code that changes them on a customer's behalf. */
export class OrdersService {
  private readonly em: EntityManager;
  private readonly checkout: CheckoutSource;

  constructor(em: EntityManager, checkout: CheckoutSource) {
    this.em = em;
    this.checkout = checkout;
  }

  /**
   * Places the caller's cart as an order: the order (PENDING), its lines, status v1 and the events
   * `orders.order.placed` and `orders.order.status-changed` commit in one transaction. A key the
   * caller has used before answers with that key's order; concurrent placements with one key
   * race on the unique (user_id, idempotency_key), and the losers answer with the winner's order.
   */
  async placeOrder(viewer: Identity, input: PlaceOrderInput, token: string | null): Promise<PlacedOrder> {
    const userId = viewer.userId.toLowerCase();
    const idempotencyKey = validIdempotencyKey(input.idempotencyKey);
    const shippingAddress = validAddress(input.shippingAddress);
    const paymentMethod = input.paymentMethod.trim();
    if (!paymentMethod || paymentMethod.length > 255) throw unknownPaymentMethod();

    const existing = await this.byIdempotencyKey(userId, idempotencyKey);
    if (existing) return { order: existing };

    let checkout: Checkout;
    try {
      checkout = await this.checkout.load(paymentMethod, token);
    } catch {
      throw new DomainError('CHECKOUT_UNAVAILABLE', 'Your cart cannot be checked out right now; try again shortly');
    }
    if (!checkout.lines.length) throw new DomainError('EMPTY_CART', 'Your cart is empty');
    if (!checkout.paymentMethodExists) throw unknownPaymentMethod();
    const { lines, total: subtotal } = priceLines(checkout);

    // The coupon's use is held for this order id before the order exists: if the order never
    // commits, promotions releases the unplaced reservation itself.
    const orderId = crypto.randomUUID();
    let coupon: CouponReservation | null;
    let total: Money;
    try {
      coupon = await this.checkout.reserveCoupon(orderId, lines, token);
      total = discounted(subtotal, coupon);
    } catch (error) {
      if (error instanceof DomainError) throw error;
      throw new DomainError('CHECKOUT_UNAVAILABLE', 'Your cart cannot be checked out right now; try again shortly');
    }

    // The answer is built from what is written, so nothing is read back; these are never flushed.
    const now = new Date();
    const built = this.em.fork();
    const order = built.create(
      Order,
      {
        id: orderId,
        userId,
        status: OrderStatus.PENDING,
        statusVersion: 1,
        statusChangedAt: now,
        idempotencyKey,
        totalAmount: total.amount,
        totalCurrency: total.currency,
        couponCode: coupon?.code ?? null,
        discountAmount: coupon?.discount.amount ?? null,
        paymentMethod,
        shippingAddress,
        createdAt: now,
        updatedAt: now,
      },
      { persist: false },
    );
    const first = built.create(OrderStatusChange, { order, version: 1, status: OrderStatus.PENDING, reason: null, at: now }, { persist: false });
    const written = {
      lines: lines.map((line, position) =>
        built.create(OrderLine, { order, productId: line.productId, position, quantity: line.quantity, unitPriceAmount: line.unitPrice.amount, unitPriceCurrency: line.unitPrice.currency }, { persist: false }),
      ),
      history: [first],
    };
    try {
      await transactionWithEvents(this.em, async (em) => {
        // What is written is what the answer shows: the statement's values come from those entities.
        await em.execute(PLACE_ORDER, [
          order.id, order.userId, order.status, order.statusVersion, order.statusChangedAt, order.idempotencyKey, order.totalAmount, order.totalCurrency,
          order.couponCode, order.discountAmount, order.paymentMethod, JSON.stringify(order.shippingAddress), order.createdAt, order.updatedAt,
          JSON.stringify(written.lines.map(({ productId, position, quantity, unitPriceAmount, unitPriceCurrency }) => ({ productId, position, quantity, unitPriceAmount, unitPriceCurrency }))),
          first.version, first.status, first.reason ?? null, first.at,
        ]);
        recordEvent(em, 'orders.order.placed', orderId, {
          orderId,
          userId,
          lines: lines.map((line) => ({ productId: line.productId, quantity: line.quantity, unitPrice: line.unitPrice })),
          total,
          paymentMethod,
          shippingAddress,
          ...(coupon && { coupon }),
        });
        recordStatusChanged(em, { orderId, userId, version: first.version, status: first.status, reason: first.reason ?? null, at: first.at });
      });
      return { order, written };
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      // Another placement with this key committed first: its order is the answer.
      const winner = await this.byIdempotencyKey(userId, idempotencyKey);
      if (!winner) throw error;
      return { order: winner };
    }
  }

  /** Cancels an order of the caller's (any order for staff) that has not shipped, and triggers compensation. */
  async cancelOrder(viewer: Identity, input: { orderId: string }): Promise<Order> {
    const notFound = new DomainError('ORDER_NOT_FOUND', 'No such order', ['input', 'orderId']);
    if (!isUuid(input.orderId)) throw notFound;
    return this.em.fork().transactional(async (em) => {
      const order = await lockOrder(em, input.orderId);
      // Someone else's order is "not found" too: its existence is not the caller's business.
      if (!order || !canView(viewer, order.userId)) throw notFound;
      if (!isCancellable(order.status)) {
        throw new DomainError('ORDER_NOT_CANCELLABLE', `An order that is ${order.status} cannot be cancelled`, ['input', 'orderId']);
      }
      const byOwner = viewer.userId.toLowerCase() === order.userId.toLowerCase();
      cancelLocked(em, order, byOwner ? 'cancelled by the customer' : 'cancelled by staff');
      return order;
    });
  }

  /** Orders by id (visibility is the caller's to check); malformed ids name nothing. */
  async ordersById(ids: readonly string[]): Promise<Map<string, Order>> {
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    if (!valid.length) return new Map();
    const orders = await this.em.find(Order, { id: { $in: valid } });
    return new Map(orders.map((order) => [order.id, order]));
  }

  /** The lines of each order, in cart order. */
  async linesOf(orderIds: readonly string[]): Promise<Map<string, OrderLine[]>> {
    const rows = await this.em.find(OrderLine, { order: { $in: [...new Set(orderIds)] } }, { orderBy: { order: 'asc', position: 'asc' } });
    return groupBy(orderIds, rows, (line) => line.order.id);
  }

  /** The status history of each order, oldest first. */
  async historyOf(orderIds: readonly string[]): Promise<Map<string, OrderStatusChange[]>> {
    const rows = await this.em.find(OrderStatusChange, { order: { $in: [...new Set(orderIds)] } }, { orderBy: { order: 'asc', version: 'asc' } });
    return groupBy(orderIds, rows, (change) => change.order.id);
  }

  /** A customer's orders, newest first, `first` at a time after a cursor. */
  async ordersOf(userId: string, first: number, after: string | null | undefined): Promise<OrderPage> {
    if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${MAX_PAGE_SIZE}`, ['first']);
    if (!isUuid(userId)) return { orders: [], hasNextPage: false, totalCount: 0 };
    const owner = { userId: userId.toLowerCase() };
    const page = after
      ? (() => {
          const { createdAt, id } = decodeCursor(after);
          return { $or: [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }] };
        })()
      : {};
    const [rows, totalCount] = await Promise.all([
      this.em.find(Order, { ...owner, ...page }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: first + 1 }),
      this.em.count(Order, owner),
    ]);
    return { orders: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }

  private byIdempotencyKey(userId: string, idempotencyKey: string): Promise<Order | null> {
    // A fresh context: after a lost race this context may hold the loser's unsaved order.
    return this.em.fork().findOne(Order, { userId, idempotencyKey });
  }
}

/**
 * A new order, its lines (a JSON array) and its first status in one statement. The unique
 * (user_id, idempotency_key) fails it whole when another placement with the key came first.
 */
const PLACE_ORDER = `with placed as (
  insert into customer_order (id, user_id, status, status_version, status_changed_at, idempotency_key, total_amount, total_currency, coupon_code, discount_amount, payment_method, shipping_address, created_at, updated_at)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?) returning id
), lines as (
  insert into order_line (order_id, product_id, position, quantity, unit_price_amount, unit_price_currency)
  select placed.id, line."productId", line.position, line.quantity, line."unitPriceAmount", line."unitPriceCurrency"
  from placed, jsonb_to_recordset(?::jsonb) as line("productId" uuid, position int, quantity int, "unitPriceAmount" int, "unitPriceCurrency" text)
)
insert into order_status_change (order_id, version, status, reason, at) select id, ?, ?, ?, ? from placed`;

const unknownPaymentMethod = () => new DomainError('UNKNOWN_PAYMENT_METHOD', 'No such payment method', ['input', 'paymentMethod']);

function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return groups;
}
