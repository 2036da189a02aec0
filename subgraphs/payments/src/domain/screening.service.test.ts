import { DomainError } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, firesOn, validReason, validRule, velocityExceeded, type RuleThresholds } from './screening.service.ts';
import type { FraudRuleKind } from '../entities/index.ts';

/** The code and field of the DomainError `run` throws. */
function refusal(run: () => unknown): { code: string; field: string[] | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('expected a DomainError');
}

describe('fraud rule thresholds', () => {
  it('keeps only the thresholds of the kind, normalised', () => {
    expect(validRule('CUSTOMER_VELOCITY', '  Busy buyer ', { maxOrders: 3, windowSeconds: 3600 })).toEqual({
      name: 'Busy buyer', maxOrders: 3, windowSeconds: 3600, amount: null, currency: null, countries: null,
    });
    expect(validRule('AMOUNT_OVER', 'Big', { amount: { amount: 0, currency: 'EUR' } })).toMatchObject({ amount: 0, currency: 'EUR' });
    expect(validRule('SHIPPING_COUNTRY', 'Far', { countries: ['ng', 'NG', 'Br'] })).toMatchObject({ countries: ['NG', 'BR'] });
  });

  it.each<[string, FraudRuleKind, string, RuleThresholds, string, string[]]>([
    ['blank name', 'AMOUNT_OVER', ' ', { amount: { amount: 1, currency: 'USD' } }, 'INVALID_NAME', ['input', 'name']],
    ['long name', 'AMOUNT_OVER', 'x'.repeat(101), { amount: { amount: 1, currency: 'USD' } }, 'INVALID_NAME', ['input', 'name']],
    ['no maxOrders', 'CARD_VELOCITY', 'r', { windowSeconds: 60 }, 'INVALID_THRESHOLD', ['input', 'maxOrders']],
    ['zero maxOrders', 'CARD_VELOCITY', 'r', { maxOrders: 0, windowSeconds: 60 }, 'INVALID_THRESHOLD', ['input', 'maxOrders']],
    ['fractional maxOrders', 'CUSTOMER_VELOCITY', 'r', { maxOrders: 1.5, windowSeconds: 60 }, 'INVALID_THRESHOLD', ['input', 'maxOrders']],
    ['no window', 'CUSTOMER_VELOCITY', 'r', { maxOrders: 2 }, 'INVALID_WINDOW', ['input', 'windowSeconds']],
    ['negative window', 'CUSTOMER_VELOCITY', 'r', { maxOrders: 2, windowSeconds: -1 }, 'INVALID_WINDOW', ['input', 'windowSeconds']],
    ['window over 30 days', 'CUSTOMER_VELOCITY', 'r', { maxOrders: 2, windowSeconds: 30 * 24 * 3600 + 1 }, 'INVALID_WINDOW', ['input', 'windowSeconds']],
    ['no amount', 'AMOUNT_OVER', 'r', {}, 'INVALID_THRESHOLD', ['input', 'amount', 'amount']],
    ['negative amount', 'AMOUNT_OVER', 'r', { amount: { amount: -1, currency: 'USD' } }, 'INVALID_THRESHOLD', ['input', 'amount', 'amount']],
    ['bad currency', 'AMOUNT_OVER', 'r', { amount: { amount: 1, currency: 'usd' } }, 'INVALID_CURRENCY', ['input', 'amount', 'currency']],
    ['no countries', 'SHIPPING_COUNTRY', 'r', { countries: [] }, 'INVALID_COUNTRY', ['input', 'countries']],
    ['unknown country', 'SHIPPING_COUNTRY', 'r', { countries: ['DE', 'XX'] }, 'INVALID_COUNTRY', ['input', 'countries', '1']],
    ['a region that is no country', 'SHIPPING_COUNTRY', 'r', { countries: ['ZZ'] }, 'INVALID_COUNTRY', ['input', 'countries', '0']],
    ['alpha-3 country', 'SHIPPING_COUNTRY', 'r', { countries: ['DEU'] }, 'INVALID_COUNTRY', ['input', 'countries', '0']],
    ['a threshold of another kind', 'AMOUNT_OVER', 'r', { amount: { amount: 1, currency: 'USD' }, countries: ['DE'] }, 'INVALID_RULE', ['input', 'countries']],
  ])('refuses %s', (_, kind, name, thresholds, code, field) => {
    expect(refusal(() => validRule(kind, name, thresholds))).toEqual({ code, field });
  });
});

describe('screening', () => {
  const order = { amount: { amount: 10_000, currency: 'USD' }, shippingCountry: 'DE' };
  const rule = (kind: FraudRuleKind, fields: { amount?: number; currency?: string; countries?: string[] }) => ({ kind, amount: null, currency: null, countries: null, ...fields });

  it('fires AMOUNT_OVER on totals strictly above it, in its currency only', () => {
    expect(firesOn(rule('AMOUNT_OVER', { amount: 9_999, currency: 'USD' }), order)).toBe(true);
    expect(firesOn(rule('AMOUNT_OVER', { amount: 10_000, currency: 'USD' }), order)).toBe(false);
    expect(firesOn(rule('AMOUNT_OVER', { amount: 1, currency: 'EUR' }), order)).toBe(false);
  });

  it('fires SHIPPING_COUNTRY on the listed countries', () => {
    expect(firesOn(rule('SHIPPING_COUNTRY', { countries: ['FR', 'DE'] }), order)).toBe(true);
    expect(firesOn(rule('SHIPPING_COUNTRY', { countries: ['FR'] }), order)).toBe(false);
    expect(firesOn(rule('SHIPPING_COUNTRY', { countries: ['DE'] }), { ...order, shippingCountry: null })).toBe(false);
  });

  it('fires a velocity rule once the earlier intents in the window reach maxOrders', () => {
    expect(velocityExceeded({ maxOrders: 2 }, 1)).toBe(false);
    expect(velocityExceeded({ maxOrders: 2 }, 2)).toBe(true);
  });

  it('checks reasons and cursors', () => {
    expect(validReason('  stolen card ')).toBe('stolen card');
    expect(refusal(() => validReason(''))).toEqual({ code: 'INVALID_REASON', field: ['input', 'reason'] });
    expect(refusal(() => validReason('x'.repeat(501)))).toEqual({ code: 'INVALID_REASON', field: ['input', 'reason'] });
    const decision = { screenedAt: new Date('2026-01-02T03:04:05.678Z'), orderId: crypto.randomUUID() };
    expect(decodeCursor(encodeCursor(decision))).toEqual(decision);
    expect(refusal(() => decodeCursor('nope')).code).toBe('INVALID_CURSOR');
  });
});
