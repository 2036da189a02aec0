import { CheckConstraintViolationException, DriverException } from '@mikro-orm/core';
import { DomainError, type EntityManager } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { InventoryService } from './inventory.service.ts';

/** An EntityManager whose every statement fails the way Postgres would. */
function failingWith(error: Error): InventoryService {
  const em = { execute: () => Promise.reject(error), transactional: (run: (em: unknown) => Promise<unknown>) => run(em) };
  return new InventoryService(em as unknown as EntityManager);
}

const checkViolation = (constraint: string) => new CheckConstraintViolationException(Object.assign(new Error(`violates check constraint "${constraint}"`), { code: '23514', constraint }));

// The guarded statements should never reach a CHECK; if one does (a future write path, a race the
// guard misses), the caller still gets a typed error, not a 500.
describe('InventoryService maps the database\'s last line of defence to typed errors', () => {
  const productId = crypto.randomUUID();
  const codeOf = (promise: Promise<unknown>) => promise.then(() => 'no error', (error: unknown) => (error instanceof DomainError ? error.code : error));

  it('on setStock', async () => {
    expect(await codeOf(failingWith(checkViolation('stock_item_reserved_within_on_hand_check')).setStock({ productId, quantity: 1 }))).toBe('BELOW_RESERVED');
    expect(await codeOf(failingWith(checkViolation('stock_item_on_hand_check')).setStock({ productId, quantity: 1 }))).toBe('INVALID_QUANTITY');
  });

  it('on adjustStock', async () => {
    expect(await codeOf(failingWith(checkViolation('stock_item_on_hand_check')).adjustStock({ productId, delta: -1 }))).toBe('INSUFFICIENT_STOCK');
    expect(await codeOf(failingWith(checkViolation('stock_item_reserved_within_on_hand_check')).adjustStock({ productId, delta: -1 }))).toBe('INSUFFICIENT_STOCK');
  });

  it('and lets anything unexpected through', async () => {
    const unknownCheck = checkViolation('some_other_check');
    expect(await codeOf(failingWith(unknownCheck).adjustStock({ productId, delta: 1 }))).toBe(unknownCheck);
    const down = new DriverException(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
    expect(await codeOf(failingWith(down).setStock({ productId, quantity: 1 }))).toBe(down);
  });
});
