import type { EntityManager } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { checkoutAction, CheckoutService, orderedQuantities, subtractOrdered } from './checkout.service.ts';

const [a, b, c] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c'];

describe('checkoutAction', () => {
  it('empties the cart only on CONFIRMED, forgets the checkout on a failing final status, waits otherwise', () => {
    expect(checkoutAction('CONFIRMED')).toBe('empty');
    for (const status of ['OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED']) expect(checkoutAction(status)).toBe('forget');
    for (const status of ['PENDING', 'STOCK_RESERVED', 'SHIPPED', 'DELIVERED']) expect(checkoutAction(status)).toBe('wait');
  });
});

describe('orderedQuantities', () => {
  it('sums repeated products, ids in lower case', () => {
    expect(orderedQuantities([{ productId: a.toUpperCase(), quantity: 1 }, { productId: b, quantity: 2 }, { productId: a, quantity: 3 }])).toEqual([
      { productId: a, quantity: 4 },
      { productId: b, quantity: 2 },
    ]);
  });
});

describe('subtractOrdered', () => {
  it('removes lines that reach zero or less, shrinks the others, leaves lines the order did not take', () => {
    const cart = [{ productId: a, quantity: 3 }, { productId: b, quantity: 2 }, { productId: c, quantity: 5 }];
    expect(subtractOrdered(cart, [{ productId: a, quantity: 1 }, { productId: b, quantity: 2 }])).toEqual({ remove: [b], update: [{ productId: a, quantity: 2 }] });
  });

  it('removes a line the customer lowered below what was ordered, and ignores ordered products no longer in the cart', () => {
    expect(subtractOrdered([{ productId: a, quantity: 1 }], [{ productId: a, quantity: 4 }, { productId: b, quantity: 1 }])).toEqual({ remove: [a], update: [] });
  });
});

describe('CheckoutService', () => {
  it('refuses to run outside a transaction', () => {
    expect(() => new CheckoutService({ isInTransaction: () => false } as unknown as EntityManager)).toThrow(/needs a transaction/);
  });
});
