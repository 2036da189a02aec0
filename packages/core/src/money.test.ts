import { describe, expect, it } from 'vitest';
import { formatMoney } from './money.ts';

describe('formatMoney', () => {
  it('shows minor units in the currency’s own decimals', () => {
    expect(formatMoney({ amount: 7_998, currency: 'USD' })).toBe('$79.98');
    expect(formatMoney({ amount: 500, currency: 'JPY' })).toBe('¥500');
    expect(formatMoney({ amount: 1_234_567, currency: 'EUR' })).toBe('€12,345.67');
    expect(formatMoney({ amount: 1_250, currency: 'USD' })).toBe('$12.50');
  });

  it('throws on a code that is no currency', () => {
    expect(() => formatMoney({ amount: 1, currency: 'dollars' })).toThrow(RangeError);
  });
});
