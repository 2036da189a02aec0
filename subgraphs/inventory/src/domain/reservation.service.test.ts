import type { EntityManager } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { mergeLines, ReservationService } from './reservation.service.ts';

const [a, b, c] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c'];
const orderId = '11111111-1111-4111-8111-111111111111';

/**
 * A transaction's EntityManager that answers statements from a script: free units per product
 * (the guarded UPDATE succeeds while they last), and remembers the statements and the outbox rows.
 */
function fakeTransaction(free: Record<string, number>, held = 0) {
  const statements: string[] = [];
  const outbox: { type: string; envelope: { subject: string; data: unknown } }[] = [];
  const em = {
    isInTransaction: () => true,
    create: (_entity: unknown, row: unknown) => row,
    persist: (row: (typeof outbox)[number]) => outbox.push(row),
    execute: async (sql: string, params: unknown[] = []) => {
      const text = sql.replace(/\s+/g, ' ').trim();
      statements.push(text.split(' ').slice(0, 2).join(' '));
      if (text.startsWith('select count(*)')) return [{ n: held }];
      if (text.startsWith('update stock_item set reserved = reserved +')) {
        const [quantity, productId] = params as [number, string];
        if ((free[productId] ?? 0) < quantity) return [];
        free[productId]! -= quantity;
        return [{ product_id: productId, available: free[productId] }];
      }
      if (text.startsWith('select on_hand - reserved')) return productId(params) in free ? [{ available: free[productId(params)] }] : [];
      return [];
    },
  };
  return { em: em as unknown as EntityManager, statements, outbox };
}
const productId = (params: unknown[]) => params[0] as string;

describe('mergeLines', () => {
  it('sums repeated products and sorts by product id, so concurrent orders lock rows in one order', () => {
    expect(mergeLines([{ productId: c, quantity: 1 }, { productId: a.toUpperCase(), quantity: 2 }, { productId: a, quantity: 3 }, { productId: b, quantity: 1 }])).toEqual([
      { productId: a, quantity: 5 },
      { productId: b, quantity: 1 },
      { productId: c, quantity: 1 },
    ]);
  });
});

describe('ReservationService.reserve', () => {
  it('reserves every line inside a savepoint and records stock.reserved with the lines', async () => {
    const { em, statements, outbox } = fakeTransaction({ [a]: 6, [b]: 2 });
    const outcome = await new ReservationService(em).reserve({ orderId, lines: [{ productId: b, quantity: 1 }, { productId: a, quantity: 5 }] });
    expect(outcome).toEqual({ outcome: 'reserved', lines: [{ productId: a, quantity: 5 }, { productId: b, quantity: 1 }] });
    expect(statements).toEqual(['select count(*)::int', 'savepoint reserve_order', 'update stock_item', 'update stock_item', 'release savepoint', 'insert into']);
    expect(outbox.map((row) => [row.type, row.envelope.subject, row.envelope.data])).toEqual([
      ['inventory.stock.reserved', orderId, { orderId, lines: [{ productId: a, quantity: 5 }, { productId: b, quantity: 1 }] }],
    ]);
  });

  it('records the stock level of each product whose last units it reserves, and only those', async () => {
    const { em, outbox } = fakeTransaction({ [a]: 5, [b]: 2 });
    await new ReservationService(em).reserve({ orderId, lines: [{ productId: a, quantity: 5 }, { productId: b, quantity: 1 }] });
    expect(outbox.map((row) => [row.type, row.envelope.subject, row.envelope.data])).toEqual([
      ['inventory.stock.reserved', orderId, { orderId, lines: [{ productId: a, quantity: 5 }, { productId: b, quantity: 1 }] }],
      ['inventory.stock.level-changed', a, { productId: a, availableQuantity: 0, inStock: false }],
    ]);
  });

  it('rejects the whole order when one line is short: rolls back the lines before it (and their levels), reserves none after it', async () => {
    const { em, statements, outbox } = fakeTransaction({ [a]: 2, [b]: 1, [c]: 0 });
    const outcome = await new ReservationService(em).reserve({ orderId, lines: [{ productId: a, quantity: 2 }, { productId: b, quantity: 3 }, { productId: c, quantity: 1 }] });
    const shortages = [{ productId: b, requested: 3, available: 1 }, { productId: c, requested: 1, available: 0 }];
    expect(outcome).toEqual({ outcome: 'rejected', shortages });
    // a is reserved then rolled back; b fails its guard; c is only checked.
    expect(statements).toEqual(['select count(*)::int', 'savepoint reserve_order', 'update stock_item', 'update stock_item', 'select on_hand', 'select on_hand', 'rollback to']);
    expect(outbox.map((row) => [row.type, row.envelope.data])).toEqual([['inventory.stock.rejected', { orderId, reason: 'insufficient stock', shortages }]]);
  });

  it('counts a product it has never stocked as none available', async () => {
    const { em, outbox } = fakeTransaction({});
    expect(await new ReservationService(em).reserve({ orderId, lines: [{ productId: a, quantity: 1 }] })).toEqual({ outcome: 'rejected', shortages: [{ productId: a, requested: 1, available: 0 }] });
    expect(outbox).toHaveLength(1);
  });

  it('does nothing for an order that holds reservations already', async () => {
    const { em, statements, outbox } = fakeTransaction({ [a]: 5 }, 1);
    expect(await new ReservationService(em).reserve({ orderId, lines: [{ productId: a, quantity: 1 }] })).toEqual({ outcome: 'unchanged' });
    expect(statements).toEqual(['select count(*)::int']);
    expect(outbox).toEqual([]);
  });

  it('refuses to run outside a transaction', () => {
    expect(() => new ReservationService({ isInTransaction: () => false } as unknown as EntityManager)).toThrow(/needs a transaction/);
  });
});
