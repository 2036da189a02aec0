import { describe, expect, it } from 'vitest';
import { SHIPMENT_STATUSES } from '../entities/shipment.entity.ts';
import { canView, cancelsWithOrder, moveOf, newTrackingNumber } from './shipping.service.ts';

describe('shipment rules', () => {
  it('moves PENDING → SHIPPED → DELIVERED, repeats are no-ops, everything else is invalid', () => {
    const table = Object.fromEntries(SHIPMENT_STATUSES.map((status) => [status, [moveOf(status, 'SHIPPED'), moveOf(status, 'DELIVERED')]]));
    expect(table).toEqual({
      PENDING: ['apply', 'invalid'],
      SHIPPED: ['noop', 'apply'],
      DELIVERED: ['invalid', 'noop'],
      CANCELLED: ['invalid', 'invalid'],
    });
  });

  it('cancels only a shipment still waiting in the warehouse', () => {
    expect(SHIPMENT_STATUSES.filter(cancelsWithOrder)).toEqual(['PENDING']);
  });

  it('makes tracking numbers of SG and 10 unambiguous capitals or digits, all different', () => {
    const numbers = Array.from({ length: 2000 }, newTrackingNumber);
    for (const number of numbers) expect(number).toMatch(/^SG[0-9A-HJ-NP-Z]{10}$/);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('shows a shipment to its customer and to staff only', () => {
    const userId = crypto.randomUUID();
    const identity = (id: string, scopes: string[]) => ({ userId: id, scopes: new Set(scopes), expiresAt: 0 });
    expect(canView(identity(userId, ['customer']), { userId })).toBe(true);
    expect(canView(identity(crypto.randomUUID(), ['customer', 'staff']), { userId })).toBe(true);
    expect(canView(identity(crypto.randomUUID(), ['customer']), { userId })).toBe(false);
    expect(canView(null, { userId })).toBe(false);
  });
});
