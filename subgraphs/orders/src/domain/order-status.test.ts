import { describe, expect, it } from 'vitest';
import { AWAITING_SAGA, canTransition, isCancellable, isFinal, ORDER_STATUSES, OrderStatus } from './order-status.ts';

const { PENDING, STOCK_RESERVED, UNDER_REVIEW, CONFIRMED, SHIPPED, DELIVERED, OUT_OF_STOCK, PAYMENT_FAILED, REJECTED, CANCELLED } = OrderStatus;

describe('order state machine', () => {
  it('follows the happy path of the saga', () => {
    const path = [PENDING, STOCK_RESERVED, CONFIRMED, SHIPPED, DELIVERED];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('lets nothing leave a final status but a cancellation shipping refused (the goods had left)', () => {
    const finals = ORDER_STATUSES.filter(isFinal);
    expect(finals.sort()).toEqual([CANCELLED, DELIVERED, OUT_OF_STOCK, PAYMENT_FAILED, REJECTED].sort());
    const exits = finals.flatMap((from) => ORDER_STATUSES.filter((to) => canTransition(from, to)).map((to) => [from, to]));
    expect(exits).toEqual([[CANCELLED, SHIPPED]]);
  });

  it('never moves backwards or to the same status (late and repeated events)', () => {
    for (const status of ORDER_STATUSES) expect(canTransition(status, status)).toBe(false);
    expect(canTransition(STOCK_RESERVED, PENDING)).toBe(false);
    expect(canTransition(CONFIRMED, STOCK_RESERVED)).toBe(false);
    expect(canTransition(SHIPPED, CONFIRMED)).toBe(false);
    expect(canTransition(DELIVERED, SHIPPED)).toBe(false);
  });

  it('fails the saga only where the step can fail', () => {
    expect(canTransition(PENDING, OUT_OF_STOCK)).toBe(true);
    expect(canTransition(STOCK_RESERVED, OUT_OF_STOCK)).toBe(false);
    expect(canTransition(STOCK_RESERVED, PAYMENT_FAILED)).toBe(true);
    expect(canTransition(CONFIRMED, PAYMENT_FAILED)).toBe(false);
    expect(canTransition(PENDING, SHIPPED)).toBe(false);
    expect(canTransition(STOCK_RESERVED, SHIPPED)).toBe(false);
    expect(canTransition(CONFIRMED, DELIVERED)).toBe(false);
  });

  it('moves to a payment outcome only from STOCK_RESERVED (the saga records an implied reservation first)', () => {
    expect(canTransition(PENDING, CONFIRMED)).toBe(false);
    expect(canTransition(PENDING, PAYMENT_FAILED)).toBe(false);
  });

  it('allows cancelling until the order ships; a late payment after CANCELLED changes nothing', () => {
    expect(ORDER_STATUSES.filter(isCancellable)).toEqual([PENDING, STOCK_RESERVED, UNDER_REVIEW, CONFIRMED]);
    expect(canTransition(CANCELLED, CONFIRMED)).toBe(false);
  });

  it('holds a screened order for review until staff approve (the charge goes ahead) or reject it', () => {
    expect(canTransition(STOCK_RESERVED, UNDER_REVIEW)).toBe(true);
    for (const outcome of [CONFIRMED, PAYMENT_FAILED, REJECTED, CANCELLED]) expect(canTransition(UNDER_REVIEW, outcome)).toBe(true);
    expect(canTransition(PENDING, UNDER_REVIEW)).toBe(false);
    expect(canTransition(STOCK_RESERVED, REJECTED)).toBe(false);
    expect(canTransition(CONFIRMED, UNDER_REVIEW)).toBe(false);
    expect(AWAITING_SAGA).not.toContain(UNDER_REVIEW);
  });

  it('times out only orders waiting for inventory or payments', () => {
    expect(AWAITING_SAGA).toEqual([PENDING, STOCK_RESERVED]);
    for (const status of AWAITING_SAGA) expect(isCancellable(status)).toBe(true);
  });
});
