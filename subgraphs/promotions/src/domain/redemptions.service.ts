import { DomainError, isUuid, recordEvent, type EntityManager } from '@shopgraph/kit';
import type { RedemptionStatus } from '../entities/index.ts';
import { discountOrProblem, type Money } from './coupon-rules.ts';
import { COUPON_COLUMNS, termsOfRow, type CouponRow } from './coupon-row.ts';
import { categoriesOf, customerUses } from './coupons.service.ts';

/** A line of the checkout being placed, priced as the order will be. */
export interface CheckoutLine {
  productId: string;
  quantity: number;
  unitPrice: Money;
}

export interface CouponRedemptionView {
  code: string;
  discount: Money;
}

/** What reserveCoupon did: `result` is the metrics label. */
export interface Reservation {
  result: 'reserved' | 'replayed' | 'no_coupon';
  redemption: CouponRedemptionView | null;
}

/** What a saga step made of an event: applied, ignored (the redemption's state does not allow it) or unknown (no redemption of the order). */
export type StepResult = 'applied' | 'ignored' | 'unknown';

/** Why the sweeper released a reservation: the order's transaction never committed. */
export const NOT_PLACED = 'NOT_PLACED';

const CURRENCY = /^[A-Z]{3}$/;

interface RedemptionRow {
  id: string;
  coupon_id: string;
  user_id: string;
  code: string;
  discount_amount: number;
  discount_currency: string;
  status: RedemptionStatus;
  reason: string | null;
}
const REDEMPTION_COLUMNS = 'id, coupon_id, user_id, code, discount_amount, discount_currency, status, reason';

const invalidLines = (message: string) => new DomainError('INVALID_LINES', message, ['input', 'lines']);

function checkLines(lines: readonly CheckoutLine[]): void {
  if (!lines.length) throw invalidLines('An order has at least one line');
  for (const line of lines) {
    if (!isUuid(line.productId)) throw invalidLines(`${line.productId} is not a product id`);
    if (!Number.isInteger(line.quantity) || line.quantity < 1) throw invalidLines('Every quantity is at least 1');
    if (!Number.isInteger(line.unitPrice.amount) || line.unitPrice.amount < 0 || !CURRENCY.test(line.unitPrice.currency)) throw invalidLines('Every unit price is a non-negative amount of an ISO 4217 currency');
  }
}

/**
 * Coupon uses by orders: reserved by placeOrder, then moved by the checkout saga. The coupon's
 * counters move in the same transaction as the redemption's status, and only from a status that
 * still holds a use, so a repeated or late event never counts twice.
 */
export class RedemptionsService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /**
   * Reserves one use of the coupon the customer applied for order `orderId`, priced over the
   * checkout's lines, in one transaction. The customer's applied coupon row is locked first, so one
   * customer's reservations take turns (a second call for one order sees the first's redemption,
   * and the per-customer limit is exact). Every rule is checked on the coupon as committed; the use
   * itself is taken last, by one conditional update of the coupon's counter that Postgres
   * re-checks on the latest row after waiting for its lock, so the usage limit is exact while the
   * coupon's row is locked only from that statement to the commit (a flash sale's checkouts queue
   * for one statement each, not for a whole transaction). The redemption's id is the order id
   * (its primary key), so the same order answers the same redemption. A refusal throws, and
   * nothing is reserved.
   */
  async reserve(userId: string, orderId: string, lines: readonly CheckoutLine[]): Promise<Reservation> {
    if (!isUuid(orderId)) throw new DomainError('INVALID_ORDER_ID', 'orderId is not an order id', ['input', 'orderId']);
    checkLines(lines);
    const user = userId.toLowerCase();
    const id = orderId.toLowerCase();
    return this.em.transactional(async (em) => {
      const [applied] = await em.execute<{ coupon_id: string }[]>('select coupon_id from applied_coupon where user_id = ? for update', [user]);
      const [existing] = await em.execute<RedemptionRow[]>(`select ${REDEMPTION_COLUMNS} from redemption where id = ?`, [id]);
      if (existing && existing.status !== 'RELEASED') {
        if (existing.user_id !== user) throw new DomainError('INVALID_ORDER_ID', 'orderId is another order of someone else', ['input', 'orderId']);
        return { result: 'replayed', redemption: viewOf(existing) };
      }
      if (!applied) return { result: 'no_coupon', redemption: null };

      const [coupon] = await em.execute<CouponRow[]>(`select ${COUPON_COLUMNS} from coupon c where c.id = ?`, [applied.coupon_id]);
      if (!coupon) throw new DomainError('COUPON_NOT_FOUND', 'No such coupon');
      const categories = await categoriesOf(em, lines.map((line) => line.productId));
      const priced = lines.map((line) => {
        const productId = line.productId.toLowerCase();
        return { productId, categoryId: categories.get(productId) ?? null, lineTotal: { amount: line.unitPrice.amount * line.quantity, currency: line.unitPrice.currency } };
      });
      const subtotal = { amount: priced.reduce((sum, line) => sum + line.lineTotal.amount, 0), currency: priced[0]!.lineTotal.currency };
      const terms = termsOfRow(coupon, await customerUses(em, coupon.id, user));
      const result = discountOrProblem(terms, priced, subtotal, new Date());
      // No field: the input names no coupon.
      if (!result.applies) throw new DomainError(result.problem.code, result.problem.message);

      const now = new Date();
      // A released redemption of the order (its first placement never committed) is taken again.
      await em.execute(
        `insert into redemption (id, coupon_id, user_id, code, discount_amount, discount_currency, status, reason, reserved_at, updated_at)
         values (?, ?, ?, ?, ?, ?, 'RESERVED', null, ?, ?)
         on conflict (id) do update set coupon_id = excluded.coupon_id, code = excluded.code, discount_amount = excluded.discount_amount,
           discount_currency = excluded.discount_currency, status = 'RESERVED', reason = null, reserved_at = excluded.reserved_at, updated_at = excluded.updated_at
         where redemption.status = 'RELEASED'`,
        [id, coupon.id, user, coupon.code, result.discount.amount, result.discount.currency, now, now],
      );
      // The coupon went with the order, as the lines leave the cart.
      await em.execute('delete from applied_coupon where user_id = ?', [user]);
      // Last, so the coupon's row stays locked until the commit only: a use left, or none taken.
      const taken = await em.execute<{ id: string }[]>(
        `update coupon set reserved_count = reserved_count + 1, updated_at = ?
         where id = ? and (usage_limit is null or reserved_count + redeemed_count < usage_limit) returning id`,
        [now, coupon.id],
      );
      if (!taken.length) throw new DomainError('COUPON_EXHAUSTED', 'This coupon has been used up');
      return { result: 'reserved', redemption: { code: coupon.code, discount: result.discount } };
    });
  }

  /**
   * `orders.order.placed` with a coupon: the order holding the reservation exists. One placed later
   * than the sweeper waited (its use released as NOT_PLACED) was priced with the coupon all the
   * same: its use is taken back, past the usage limit if others took it meanwhile, so the counts
   * stay the true number of orders with the discount.
   */
  async placed(orderId: string): Promise<StepResult> {
    const redemption = await this.locked(orderId);
    if (!redemption) return 'unknown';
    if (redemption.status === 'RELEASED' && redemption.reason === NOT_PLACED) {
      const now = new Date();
      await this.em.execute(`update redemption set status = 'PLACED', reason = null, updated_at = ? where id = ?`, [now, redemption.id]);
      await this.em.execute('update coupon set reserved_count = reserved_count + 1, updated_at = ? where id = ?', [now, redemption.coupon_id]);
      return 'applied';
    }
    if (redemption.status !== 'RESERVED') return 'ignored';
    await this.em.execute(`update redemption set status = 'PLACED', updated_at = ? where id = ?`, [new Date(), redemption.id]);
    return 'applied';
  }

  /** The order was confirmed: its use of the coupon is final (placement is implied if not seen yet). */
  async commit(orderId: string): Promise<StepResult> {
    const redemption = await this.locked(orderId);
    if (!redemption) return 'unknown';
    if (redemption.status !== 'RESERVED' && redemption.status !== 'PLACED') return 'ignored';
    const now = new Date();
    await this.em.execute(`update redemption set status = 'COMMITTED', updated_at = ? where id = ?`, [now, redemption.id]);
    await this.em.execute('update coupon set reserved_count = reserved_count - 1, redeemed_count = redeemed_count + 1, updated_at = ? where id = ?', [now, redemption.coupon_id]);
    recordEvent(this.em, 'promotions.redemption.committed', redemption.id, {
      orderId: redemption.id,
      userId: redemption.user_id,
      couponId: redemption.coupon_id,
      code: redemption.code,
      discount: { amount: redemption.discount_amount, currency: redemption.discount_currency },
    });
    await this.em.flush();
    return 'applied';
  }

  /** The order failed or was cancelled: its use goes back to the coupon (a committed one too). */
  async release(orderId: string, reason: string): Promise<StepResult> {
    const redemption = await this.locked(orderId);
    if (!redemption) return 'unknown';
    if (redemption.status === 'RELEASED') return 'ignored';
    await this.releaseLocked(redemption, reason);
    return 'applied';
  }

  /**
   * Releases up to `limit` reservations made before `reservedBefore` and never placed (the order's
   * transaction did not commit), skipping rows a saga step or another replica holds. Needs a
   * transaction. Returns the order ids released.
   */
  async releaseUnplaced(reservedBefore: Date, limit: number): Promise<string[]> {
    if (!this.em.isInTransaction()) throw new Error('releaseUnplaced needs a transaction');
    const rows = await this.em.execute<RedemptionRow[]>(
      `select ${REDEMPTION_COLUMNS} from redemption where status = 'RESERVED' and reserved_at < ? order by reserved_at limit ? for update skip locked`,
      [reservedBefore, limit],
    );
    // In coupon order, so two sweepers never wait on each other's coupons in a cycle.
    for (const row of rows.toSorted((a, b) => a.coupon_id.localeCompare(b.coupon_id))) await this.releaseLocked(row, NOT_PLACED);
    return rows.map((row) => row.id);
  }

  /** The order's redemption, locked for the step; null when the order had none (or is not an id). */
  private async locked(orderId: string): Promise<RedemptionRow | null> {
    if (!isUuid(orderId)) return null;
    const [row] = await this.em.execute<RedemptionRow[]>(`select ${REDEMPTION_COLUMNS} from redemption where id = ? for update`, [orderId.toLowerCase()]);
    return row ?? null;
  }

  private async releaseLocked(redemption: RedemptionRow, reason: string): Promise<void> {
    const now = new Date();
    await this.em.execute(`update redemption set status = 'RELEASED', reason = ?, updated_at = ? where id = ?`, [reason, now, redemption.id]);
    const counter = redemption.status === 'COMMITTED' ? 'redeemed_count' : 'reserved_count';
    await this.em.execute(`update coupon set ${counter} = ${counter} - 1, updated_at = ? where id = ?`, [now, redemption.coupon_id]);
    recordEvent(this.em, 'promotions.redemption.released', redemption.id, {
      orderId: redemption.id,
      userId: redemption.user_id,
      couponId: redemption.coupon_id,
      code: redemption.code,
      reason,
    });
    await this.em.flush();
  }
}

const viewOf = (row: RedemptionRow): CouponRedemptionView => ({ code: row.code, discount: { amount: row.discount_amount, currency: row.discount_currency } });
