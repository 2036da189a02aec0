import { describe, expect, it } from 'vitest';
import { discountFor, priceCart, usageProblem, type AppliedTerms, type DiscountTerms, type PricedLine, type UsageTerms } from './coupon-rules.ts';

const usd = (amount: number) => ({ amount, currency: 'USD' });
const line = (productId: string, amount: number, categoryId: string | null = null, currency = 'USD'): PricedLine => ({ productId, categoryId, lineTotal: { amount, currency } });
const percent = (percentOff: number, more: Partial<DiscountTerms> = {}): DiscountTerms => ({ kind: 'PERCENTAGE', percentOff, amountOff: null, minimumSubtotal: null, categoryId: null, productIds: [], ...more });
const fixed = (amountOff: number, more: Partial<DiscountTerms> = {}, currency = 'USD'): DiscountTerms => ({ kind: 'FIXED_AMOUNT', percentOff: null, amountOff: { amount: amountOff, currency }, minimumSubtotal: null, categoryId: null, productIds: [], ...more });
const subtotalOf = (lines: PricedLine[], currency = 'USD') => ({ amount: lines.reduce((sum, l) => sum + l.lineTotal.amount, 0), currency });
const discount = (terms: DiscountTerms, lines: PricedLine[]) => discountFor(terms, lines, subtotalOf(lines));
const problemOf = (terms: DiscountTerms, lines: PricedLine[]) => {
  const result = discount(terms, lines);
  return result.applies ? null : { code: result.problem.code, message: result.problem.message };
};

describe('discountFor', () => {
  it('takes a percentage of every line without a restriction, rounded down to the minor unit', () => {
    expect(discount(percent(10), [line('a', 1999), line('b', 1000)])).toEqual({ applies: true, discount: usd(299) });
    // 15% of 3333 = 499.95: a customer never gets a fraction of a cent more.
    expect(discount(percent(15), [line('a', 3333)])).toEqual({ applies: true, discount: usd(499) });
    expect(discount(percent(100), [line('a', 3333)])).toEqual({ applies: true, discount: usd(3333) });
    expect(discount(percent(1), [line('a', 99)])).toEqual({ applies: true, discount: usd(0) });
  });

  it('takes a fixed amount, at most the eligible total', () => {
    expect(discount(fixed(500), [line('a', 1999)])).toEqual({ applies: true, discount: usd(500) });
    expect(discount(fixed(5000), [line('a', 1999), line('b', 1)])).toEqual({ applies: true, discount: usd(2000) });
    // Capped at the eligible lines, not the whole cart.
    expect(discount(fixed(5000, { productIds: ['a'] }), [line('a', 1999), line('b', 10_000)])).toEqual({ applies: true, discount: usd(1999) });
  });

  it('discounts only the lines of its category or of its products', () => {
    const lines = [line('a', 1000, 'kitchen'), line('b', 2000, 'garden'), line('c', 4000, 'kitchen'), line('d', 8000, null)];
    expect(discount(percent(50, { categoryId: 'kitchen' }), lines)).toEqual({ applies: true, discount: usd(2500) });
    expect(discount(percent(50, { productIds: ['b', 'd'] }), lines)).toEqual({ applies: true, discount: usd(5000) });
    expect(problemOf(percent(50, { categoryId: 'toys' }), lines)).toEqual({ code: 'COUPON_NOT_APPLICABLE', message: expect.any(String) });
    expect(problemOf(fixed(100, { productIds: ['z'] }), lines)?.code).toBe('COUPON_NOT_APPLICABLE');
    expect(problemOf(percent(10), [])?.code).toBe('COUPON_NOT_APPLICABLE');
  });

  it('needs the whole subtotal to reach the minimum, and says how much is missing', () => {
    const terms = percent(10, { minimumSubtotal: usd(5000), categoryId: 'kitchen' });
    expect(problemOf(terms, [line('a', 1250, 'kitchen'), line('b', 2500, 'garden')])).toEqual({
      code: 'COUPON_MINIMUM_NOT_MET',
      message: 'Add $12.50 more to use this coupon (minimum $50.00)',
    });
    // Lines outside the category count towards the minimum, but only the category is discounted.
    expect(discount(terms, [line('a', 1000, 'kitchen'), line('b', 4000, 'garden')])).toEqual({ applies: true, discount: usd(100) });
  });

  it('does not apply to another currency than its own', () => {
    expect(problemOf(fixed(500, {}, 'EUR'), [line('a', 1999)])).toEqual({ code: 'COUPON_CURRENCY_MISMATCH', message: 'This coupon is for prices in EUR only' });
    expect(problemOf(percent(10, { minimumSubtotal: { amount: 100, currency: 'EUR' } }), [line('a', 1999)])?.code).toBe('COUPON_CURRENCY_MISMATCH');
    expect(problemOf(percent(10), [line('a', 1999), line('b', 100, null, 'EUR')])?.code).toBe('COUPON_CURRENCY_MISMATCH');
    // A percentage without a minimum has no currency of its own.
    const yen = [line('a', 1999, null, 'JPY')];
    expect(discountFor(percent(10), yen, subtotalOf(yen, 'JPY'))).toEqual({ applies: true, discount: { amount: 199, currency: 'JPY' } });
  });
});

describe('usageProblem', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const terms = (more: Partial<UsageTerms> = {}): UsageTerms => ({ active: true, startsAt: null, endsAt: null, usageLimit: null, perCustomerLimit: null, uses: 0, customerUses: 0, ...more });
  const codeOf = (more: Partial<UsageTerms>) => usageProblem(terms(more), now)?.code ?? null;

  it('lets an active coupon within its window and limits be used', () => {
    expect(codeOf({})).toBeNull();
    expect(codeOf({ startsAt: now, endsAt: new Date('2025-06-01T12:00:00.001Z'), usageLimit: 2, uses: 1, perCustomerLimit: 1, customerUses: 0 })).toBeNull();
  });

  it('names the first reason it cannot be', () => {
    expect(codeOf({ active: false })).toBe('COUPON_NOT_FOUND');
    expect(codeOf({ startsAt: new Date('2025-06-02T00:00:00Z') })).toBe('COUPON_NOT_STARTED');
    expect(codeOf({ endsAt: now })).toBe('COUPON_EXPIRED');
    expect(codeOf({ usageLimit: 50, uses: 50 })).toBe('COUPON_EXHAUSTED');
    expect(codeOf({ perCustomerLimit: 2, customerUses: 2 })).toBe('COUPON_CUSTOMER_LIMIT');
  });
});


describe('priceCart', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const applied = (more: Partial<AppliedTerms> = {}): AppliedTerms => ({
    ...fixed(500), code: 'FIVE', description: '$5 off', active: true, startsAt: null, endsAt: null, usageLimit: null, perCustomerLimit: null, uses: 0, customerUses: 0, ...more,
  });
  const lines = [line('a', 1999)];

  it('is the subtotal without a coupon', () => {
    expect(priceCart(null, lines, usd(1999), now)).toEqual({ coupon: null, discount: null, total: usd(1999) });
  });

  it('takes the discount off the subtotal', () => {
    expect(priceCart(applied(), lines, usd(1999), now)).toEqual({ coupon: { code: 'FIVE', description: '$5 off', problem: null }, discount: usd(500), total: usd(1499) });
  });

  it('tells why the coupon does not apply, code-level reasons first, and takes nothing off', () => {
    expect(priceCart(applied({ usageLimit: 1, uses: 1, minimumSubtotal: usd(5000) }), lines, usd(1999), now)).toEqual({
      coupon: { code: 'FIVE', description: '$5 off', problem: { code: 'COUPON_EXHAUSTED', message: 'This coupon has been used up' } },
      discount: null,
      total: usd(1999),
    });
    expect(priceCart(applied({ productIds: ['z'] }), lines, usd(1999), now).coupon?.problem?.code).toBe('COUPON_NOT_APPLICABLE');
  });
});
