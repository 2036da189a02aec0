import { describe, expect, it } from 'vitest';
import { OrderStatus } from '../order-status.ts';
import { outOfStockReason, paymentFailedReason, shippedReason } from './saga.service.ts';

const orderId = '7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11';
const [p1, p2] = ['0b0e2c4a-8a51-4f0e-9f63-5d8f4f7a6b22', '1c1e2c4a-8a51-4f0e-9f63-5d8f4f7a6b33'];

describe('saga reasons', () => {
  it('names every product that is short', () => {
    const reason = outOfStockReason({ orderId, reason: 'insufficient stock', shortages: [{ productId: p1, requested: 3, available: 1 }, { productId: p2, requested: 2, available: 0 }] });
    expect(reason).toBe(`Out of stock: product ${p1} (3 requested, 1 available), product ${p2} (2 requested, 0 available)`);
    expect(outOfStockReason({ orderId, reason: 'no such product', shortages: [] })).toBe('no such product');
  });

  it('keeps the payment provider\'s reason and code', () => {
    expect(paymentFailedReason({ orderId, paymentId: p1, amount: { amount: 100, currency: 'USD' }, code: 'card_declined', reason: 'Your card was declined' })).toBe('Your card was declined (card_declined)');
  });

  it('tells a customer whose cancellation came too late that the order shipped anyway', () => {
    const shipped = { orderId, shipmentId: p1, trackingNumber: 'SG1234567890', at: new Date().toISOString() };
    expect(shippedReason(shipped, OrderStatus.CONFIRMED)).toBe('Tracking number SG1234567890');
    expect(shippedReason(shipped, OrderStatus.CANCELLED)).toBe('Not cancelled: the order had already shipped. Tracking number SG1234567890');
  });
});
