import type { EntityManager } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_QUANTITY, MAX_LINES } from './cart.service.ts';
import { checkoutAction, CheckoutService, orderedQuantities, returnTaken, takeOrdered } from './checkout.service.ts';

const [a, b, c] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c'];

describe('checkoutAction', () => {
  it('keeps the lines out on CONFIRMED, returns them on a failing final status, waits otherwise', () => {
    expect(checkoutAction('CONFIRMED')).toBe('keep');
    for (const status of ['OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED']) expect(checkoutAction(status)).toBe('return');
    for (const status of ['PENDING', 'STOCK_RESERVED', 'UNDER_REVIEW', 'SHIPPED', 'DELIVERED']) expect(checkoutAction(status)).toBe('wait');
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

describe('takeOrdered', () => {
  it('removes lines the order takes whole, shrinks the others, leaves lines the order did not take', () => {
    const cart = [{ productId: a, quantity: 3 }, { productId: b, quantity: 2 }, { productId: c, quantity: 5 }];
    expect(takeOrdered(cart, [{ productId: a, quantity: 1 }, { productId: b, quantity: 2 }])).toEqual({
      remove: [b],
      set: [{ productId: a, quantity: 2 }],
      taken: [{ productId: a, quantity: 1 }, { productId: b, quantity: 2 }],
    });
  });

  it('takes only what the cart holds: less where the customer lowered a line, nothing of products no longer in it', () => {
    expect(takeOrdered([{ productId: a, quantity: 1 }], [{ productId: a.toUpperCase(), quantity: 4 }, { productId: b, quantity: 1 }])).toEqual({
      remove: [a],
      set: [],
      taken: [{ productId: a, quantity: 1 }],
    });
  });
});

describe('returnTaken', () => {
  it('merges into lines of the same product and adds lines for the others', () => {
    expect(returnTaken([{ productId: a, quantity: 1 }, { productId: c, quantity: 1 }], [{ productId: a, quantity: 2 }, { productId: b, quantity: 1 }])).toEqual({
      set: [{ productId: a, quantity: 3 }, { productId: b, quantity: 1 }],
      dropped: [],
    });
  });

  it('caps a line at MAX_LINE_QUANTITY and drops the rest', () => {
    expect(returnTaken([{ productId: a, quantity: MAX_LINE_QUANTITY - 1 }], [{ productId: a, quantity: 3 }])).toEqual({
      set: [{ productId: a, quantity: MAX_LINE_QUANTITY }],
      dropped: [{ productId: a, quantity: 2 }],
    });
    expect(returnTaken([{ productId: a, quantity: MAX_LINE_QUANTITY }], [{ productId: a, quantity: 1 }])).toEqual({ set: [], dropped: [{ productId: a, quantity: 1 }] });
  });

  it('adds no product beyond MAX_LINES, but still merges into lines the cart has', () => {
    const full = Array.from({ length: MAX_LINES - 1 }, (_, i) => ({ productId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, quantity: 1 }));
    const cart = [{ productId: a, quantity: 1 }, ...full];
    expect(returnTaken(cart, [{ productId: b, quantity: 2 }, { productId: a, quantity: 1 }])).toEqual({
      set: [{ productId: a, quantity: 2 }],
      dropped: [{ productId: b, quantity: 2 }],
    });
    expect(returnTaken(full, [{ productId: b, quantity: 2 }, { productId: c, quantity: 1 }])).toEqual({
      set: [{ productId: b, quantity: 2 }],
      dropped: [{ productId: c, quantity: 1 }],
    });
  });
});

describe('CheckoutService', () => {
  it('refuses to run outside a transaction', () => {
    expect(() => new CheckoutService({ isInTransaction: () => false } as unknown as EntityManager)).toThrow(/needs a transaction/);
  });
});
