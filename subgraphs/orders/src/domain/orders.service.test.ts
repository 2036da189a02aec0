import { DomainError } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { canView, decodeCursor, discounted, encodeCursor, priceLines } from './orders.service.ts';

const [a, b] = ['7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11', '0b0e2c4a-8a51-4f0e-9f63-5d8f4f7a6b22'];
const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('priceLines', () => {
  it('totals the lines at their unit prices', () => {
    const priced = priceLines({ paymentMethodExists: true, lines: [{ productId: a, quantity: 3, unitPrice: usd(250) }, { productId: b, quantity: 1, unitPrice: usd(1000) }] });
    expect(priced.total).toEqual(usd(1750));
    expect(priced.lines.map((l) => [l.productId, l.quantity])).toEqual([[a, 3], [b, 1]]);
  });

  it('merges a product listed twice into one line', () => {
    const priced = priceLines({ paymentMethodExists: true, lines: [{ productId: a, quantity: 1, unitPrice: usd(5) }, { productId: a.toUpperCase(), quantity: 2, unitPrice: usd(5) }] });
    expect(priced.lines).toEqual([{ productId: a, quantity: 3, unitPrice: usd(5) }]);
    expect(priced.total).toEqual(usd(15));
  });

  it('refuses lines it cannot trust', () => {
    expect(() => priceLines({ paymentMethodExists: true, lines: [{ productId: a, quantity: 1, unitPrice: usd(5) }, { productId: b, quantity: 1, unitPrice: { amount: 5, currency: 'EUR' } }] })).toThrow(/more than one currency/);
    expect(() => priceLines({ paymentMethodExists: true, lines: [{ productId: 'nope', quantity: 1, unitPrice: usd(5) }] })).toThrow(/malformed line/);
    expect(() => priceLines({ paymentMethodExists: true, lines: [{ productId: a, quantity: 0, unitPrice: usd(5) }] })).toThrow(/malformed line/);
    expect(() => priceLines({ paymentMethodExists: true, lines: [{ productId: a, quantity: 1, unitPrice: usd(-1) }] })).toThrow(/malformed price/);
  });
});

describe('order cursors', () => {
  it('round-trip and reject anything else', () => {
    const createdAt = new Date('2025-03-01T10:00:00.123Z');
    expect(decodeCursor(encodeCursor({ createdAt, id: a }))).toEqual({ createdAt, id: a });
    for (const bad of ['', 'garbage', Buffer.from('["x","y"]').toString('base64url'), Buffer.from(`["2025-01-01T00:00:00Z","${a}",1]`).toString('base64url')]) {
      expect(() => decodeCursor(bad)).toThrow(DomainError);
    }
  });
});

describe('canView', () => {
  const owner = { userId: a, scopes: new Set(['customer']), expiresAt: 0 };
  it('shows an order to its owner and staff only', () => {
    expect(canView(owner, a.toUpperCase())).toBe(true);
    expect(canView({ ...owner, userId: b }, a)).toBe(false);
    expect(canView({ ...owner, userId: b, scopes: new Set(['customer', 'staff']) }, a)).toBe(true);
    expect(canView(null, a)).toBe(false);
  });
});

describe('discounted', () => {
  it('takes a coupon off the lines\' sum, down to zero but never below', () => {
    expect(discounted(usd(3000), null)).toEqual(usd(3000));
    expect(discounted(usd(3000), { code: 'SAVE10', discount: usd(300) })).toEqual(usd(2700));
    expect(discounted(usd(3000), { code: 'FREE', discount: usd(3000) })).toEqual(usd(0));
  });

  it('refuses a discount promotions cannot have given', () => {
    for (const discount of [usd(3001), usd(0), usd(-1), usd(1.5), { amount: 100, currency: 'EUR' }]) {
      expect(() => discounted(usd(3000), { code: 'X', discount })).toThrow(/Coupon X took off/);
    }
  });
});
