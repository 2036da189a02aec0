import { describe, expect, it } from 'vitest';
import { followStatus, StatusChangeBus, type FollowOptions, type StatusChange } from './live-status.ts';
import { OrderStatus, type OrderStatus as Status } from '../order-status.ts';

const ORDER = '0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e';
const OWNER = 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const STATUSES: Status[] = [OrderStatus.PENDING, OrderStatus.STOCK_RESERVED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED];
const change = (version: number, userId = OWNER): StatusChange => ({ orderId: ORDER, userId, version, status: STATUSES[version - 1]!, reason: null, at: new Date(0) });

/** A database of one order's history and a bus, as followStatus sees them; `reads` counts the history reads. */
function world(committed: number) {
  const bus = new StatusChangeBus();
  const db = { history: Array.from({ length: committed }, (_, i) => change(i + 1)), reads: 0 };
  const options = (overrides: Partial<FollowOptions> = {}): FollowOptions => ({
    bus,
    readAfter: async (after) => {
      db.reads++;
      return db.history.filter((c) => c.version > after);
    },
    readLatest: async () => db.history.at(-1) ?? null,
    mayView: (c) => c.userId === OWNER,
    ...overrides,
  });
  /** Commits the next version and, unless `silent`, publishes it live. */
  const commit = (silent = false) => {
    const next = change(db.history.length + 1);
    db.history.push(next);
    if (!silent) bus.publish(next);
    return next;
  };
  return { bus, db, options, commit };
}

async function take(events: AsyncIterator<StatusChange>, n: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) seen.push((await events.next()).value.version);
  return seen;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('followStatus', () => {
  it('with `after`: the history after it, then live changes', async () => {
    const { options, commit } = world(3);
    const events = followStatus(ORDER, 1, options());
    expect(await take(events, 2)).toEqual([2, 3]);
    commit();
    expect(await take(events, 1)).toEqual([4]);
    await events.return!();
  });

  it('without `after`: the latest change, then live ones', async () => {
    const { options, commit } = world(3);
    const events = followStatus(ORDER, null, options());
    expect(await take(events, 1)).toEqual([3]);
    commit();
    expect(await take(events, 1)).toEqual([4]);
  });

  it('sends once a change that is both in the history and buffered live (committed during the switch)', async () => {
    const { options, commit } = world(1);
    const events = followStatus(ORDER, 0, options({ hooks: { afterLiveSubscribed: () => void commit() } }));
    expect(await take(events, 2)).toEqual([1, 2]);
    commit();
    expect(await take(events, 1)).toEqual([3]);
  });

  it('sends a change that came live after the history was read, before the history itself was sent', async () => {
    const { options, commit } = world(1);
    const events = followStatus(ORDER, 0, options({ hooks: { afterHistoryRead: () => void [commit(), commit()] } }));
    expect(await take(events, 3)).toEqual([1, 2, 3]);
  });

  it('fills a gap from the database when a live change skips versions', async () => {
    const { options, commit, db } = world(1);
    const events = followStatus(ORDER, 0, options());
    expect(await take(events, 1)).toEqual([1]);
    const reads = db.reads;
    commit(true); // never seen live here
    commit();
    expect(await take(events, 2)).toEqual([2, 3]);
    expect(db.reads).toBe(reads + 1);
  });

  it('completes after a final status, and at once for a final order with nothing after the cursor', async () => {
    const { options, commit } = world(4);
    const events = followStatus(ORDER, 3, options());
    expect(await take(events, 1)).toEqual([4]);
    commit(); // DELIVERED
    expect(await take(events, 1)).toEqual([5]);
    expect((await events.next()).done).toBe(true);

    const finished = followStatus(ORDER, 5, options({ current: { version: 5, status: OrderStatus.DELIVERED } }));
    expect((await finished.next()).done).toBe(true);
  });

  it('fails with FORBIDDEN on a change the subscriber may not see, and stops listening', async () => {
    const { options, bus } = world(1);
    const events = followStatus(ORDER, 0, options());
    expect(await take(events, 1)).toEqual([1]);
    bus.publish(change(2, 'someone-else'));
    await expect(events.next()).rejects.toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    expect(bus.subscribers(ORDER)).toBe(0);
  });

  it('unsubscribes from the bus at once when the subscriber returns, even while waiting', async () => {
    const { options, bus } = world(1);
    const events = followStatus(ORDER, 1, options());
    const pending = events.next();
    await tick();
    expect(bus.subscribers(ORDER)).toBe(1);
    await events.return!();
    expect((await pending).done).toBe(true);
    expect(bus.subscribers(ORDER)).toBe(0);
  });

  it('ends with SUBSCRIPTION_OVERFLOW when the subscriber does not keep up', async () => {
    const { options, commit, bus } = world(1);
    const events = followStatus(ORDER, 0, options({ maxBuffered: 2 }));
    await tick();
    await tick();
    for (let i = 0; i < 3; i++) commit();
    await expect(events.next()).rejects.toMatchObject({ extensions: { code: 'SUBSCRIPTION_OVERFLOW' } });
    expect(bus.subscribers(ORDER)).toBe(0);
  });
});
