import { describe, expect, it } from 'vitest';
import { PAYMENT_STATUSES, type Payment } from '../entities/payment.entity.ts';
import { canView, isShowable, onOrderCancelled, readyToCharge, type ShownPayment } from './payment.service.ts';

describe('payment rules', () => {
  it('charges only a pending payment whose order and stock reservation are both known', () => {
    for (const status of PAYMENT_STATUSES) {
      for (const orderKnown of [false, true]) {
        for (const stockReserved of [false, true]) {
          expect(readyToCharge({ status, orderKnown, stockReserved })).toBe(status === 'PENDING' && orderKnown && stockReserved);
        }
      }
    }
  });

  it('refunds a captured payment on cancellation, voids a pending or held one, leaves the rest', () => {
    expect(Object.fromEntries(PAYMENT_STATUSES.map((status) => [status, onOrderCancelled(status)]))).toEqual({
      PENDING: 'cancel',
      SUCCEEDED: 'refund',
      FAILED: 'none',
      REFUNDED: 'none',
      CANCELLED: 'none',
      UNDER_REVIEW: 'cancel',
      REJECTED: 'none',
    });
  });

  it('shows a payment only once the order is known, to its customer and to staff', () => {
    const userId = crypto.randomUUID();
    const known = { userId, amount: 100, currency: 'USD', method: 'pm_card_visa' } as Payment;
    expect(isShowable(known)).toBe(true);
    expect(isShowable({ ...known, userId: null, amount: null, currency: null, method: null } as Payment)).toBe(false);
    // A payment just created from stock.reserved, before its first flush.
    expect(isShowable({ ...known, amount: undefined } as unknown as Payment)).toBe(false);

    const shown = known as ShownPayment;
    const identity = (id: string, scopes: string[]) => ({ userId: id, scopes: new Set(scopes), expiresAt: 0 });
    expect(canView(identity(userId.toUpperCase(), ['customer']), shown)).toBe(true);
    expect(canView(identity(crypto.randomUUID(), ['customer', 'staff']), shown)).toBe(true);
    expect(canView(identity(crypto.randomUUID(), ['customer']), shown)).toBe(false);
    expect(canView(null, shown)).toBe(false);
  });
});
