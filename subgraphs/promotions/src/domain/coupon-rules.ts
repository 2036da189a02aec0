// The rules of coupons as pure code (no database, no clock of its own): whether a coupon may be used
// now, and what it takes off a cart's lines. The service, the cart's pricing and reserveCoupon all
// decide with these, so a cart never shows a discount the checkout would not give.
import { DomainError, formatMoney, userError, type UserError } from '@shopgraph/kit';
import type { CouponKind } from '../entities/index.ts';

/** Integer minor units of an ISO 4217 currency. */
export interface Money {
  amount: number;
  currency: string;
}

/** What a coupon's discount depends on. */
export interface DiscountTerms {
  kind: CouponKind;
  /** PERCENTAGE: 1–100. */
  percentOff: number | null;
  /** FIXED_AMOUNT. */
  amountOff: Money | null;
  minimumSubtotal: Money | null;
  categoryId: string | null;
  /** Empty: no product restriction. */
  productIds: readonly string[];
}

/** What a coupon's usability depends on, with the uses counted so far. */
export interface UsageTerms {
  active: boolean;
  startsAt: Date | null;
  endsAt: Date | null;
  usageLimit: number | null;
  perCustomerLimit: number | null;
  /** Uses held by orders in flight plus those redeemed. */
  uses: number;
  /** The customer's uses (reserved or committed). */
  customerUses: number;
}

/** A line of a cart or checkout, with its product's category (null when unknown). */
export interface PricedLine {
  productId: string;
  categoryId: string | null;
  lineTotal: Money;
}

export type Discount = { applies: true; discount: Money } | { applies: false; problem: DomainError };

/**
 * Why the coupon cannot be used now by a customer (a code-level reason), or null when it can. An
 * inactive coupon reads as unknown: customers cannot tell a withdrawn code from a wrong one.
 */
export function usageProblem(coupon: UsageTerms, now: Date): DomainError | null {
  const field = ['input', 'code'];
  if (!coupon.active) return new DomainError('COUPON_NOT_FOUND', 'No such coupon', field);
  if (coupon.startsAt && now < coupon.startsAt) return new DomainError('COUPON_NOT_STARTED', `This coupon can be used from ${coupon.startsAt.toISOString()}`, field);
  if (coupon.endsAt && now >= coupon.endsAt) return new DomainError('COUPON_EXPIRED', 'This coupon has expired', field);
  if (coupon.usageLimit !== null && coupon.uses >= coupon.usageLimit) return new DomainError('COUPON_EXHAUSTED', 'This coupon has been used up', field);
  if (coupon.perCustomerLimit !== null && coupon.customerUses >= coupon.perCustomerLimit) {
    return new DomainError('COUPON_CUSTOMER_LIMIT', `You have used this coupon ${coupon.perCustomerLimit === 1 ? 'already' : `${coupon.perCustomerLimit} times already`}`, field);
  }
  return null;
}

/**
 * What the coupon takes off the lines. Only eligible lines (those of its category, or of its
 * products; every line without a restriction) are discounted: a percentage of their total rounded
 * down to the minor unit, or a fixed amount capped at their total (never a negative total). The
 * minimum compares with the whole subtotal. Another currency than the coupon's (its amount's or its
 * minimum's) is not applicable.
 */
export function discountFor(coupon: DiscountTerms, lines: readonly PricedLine[], subtotal: Money): Discount {
  const refuse = (code: string, message: string): Discount => ({ applies: false, problem: new DomainError(code, message) });
  const currency = subtotal.currency;
  const couponCurrency = coupon.amountOff?.currency ?? coupon.minimumSubtotal?.currency ?? currency;
  if (couponCurrency !== currency || lines.some((line) => line.lineTotal.currency !== currency)) {
    return refuse('COUPON_CURRENCY_MISMATCH', `This coupon is for prices in ${couponCurrency} only`);
  }
  if (coupon.minimumSubtotal && subtotal.amount < coupon.minimumSubtotal.amount) {
    const missing = { amount: coupon.minimumSubtotal.amount - subtotal.amount, currency };
    return refuse('COUPON_MINIMUM_NOT_MET', `Add ${formatMoney(missing)} more to use this coupon (minimum ${formatMoney(coupon.minimumSubtotal)})`);
  }
  const eligible = lines.filter((line) => isEligible(coupon, line));
  if (!eligible.length) return refuse('COUPON_NOT_APPLICABLE', 'This coupon does not apply to anything in your cart');
  const eligibleTotal = eligible.reduce((sum, line) => sum + line.lineTotal.amount, 0);
  const amount = coupon.kind === 'PERCENTAGE' ? Math.floor((eligibleTotal * (coupon.percentOff ?? 0)) / 100) : Math.min(coupon.amountOff?.amount ?? 0, eligibleTotal);
  return { applies: true, discount: { amount, currency } };
}

function isEligible(coupon: DiscountTerms, line: PricedLine): boolean {
  if (coupon.categoryId) return line.categoryId === coupon.categoryId;
  if (coupon.productIds.length) return coupon.productIds.includes(line.productId);
  return true;
}

/** A customer's applied coupon with everything its use depends on. */
export interface AppliedTerms extends DiscountTerms, UsageTerms {
  code: string;
  description: string;
}

export interface CartPricing {
  coupon: { code: string; description: string; problem: UserError | null } | null;
  /** Null when no coupon applies. */
  discount: Money | null;
  total: Money;
}

/** A cart as the customer sees it: the applied coupon and why it does not apply (if it does not), its discount, the total. */
export function priceCart(applied: AppliedTerms | null, lines: readonly PricedLine[], subtotal: Money, now: Date): CartPricing {
  if (!applied) return { coupon: null, discount: null, total: subtotal };
  const result = discountOrProblem(applied, lines, subtotal, now);
  const coupon = { code: applied.code, description: applied.description };
  if (!result.applies) return { coupon: { ...coupon, problem: userError(result.problem.code, result.problem.message) }, discount: null, total: subtotal };
  return { coupon: { ...coupon, problem: null }, discount: result.discount, total: { amount: subtotal.amount - result.discount.amount, currency: subtotal.currency } };
}

/** Every rule in turn: first whether the coupon may be used now, then what it takes off the lines. */
export function discountOrProblem(coupon: DiscountTerms & UsageTerms, lines: readonly PricedLine[], subtotal: Money, now: Date): Discount {
  const problem = usageProblem(coupon, now);
  return problem ? { applies: false, problem } : discountFor(coupon, lines, subtotal);
}
