import { describe, expect, it } from 'vitest';
import { StatusSequencer } from './status-sequencer.ts';

const v = (version: number) => ({ version });
const versions = (changes: { version: number }[]) => changes.map((c) => c.version);

describe('StatusSequencer', () => {
  it('hands out changes in version order after the cursor, each once', () => {
    const s = new StatusSequencer(2);
    expect(versions(s.offer(v(1)))).toEqual([]); // the subscriber has it
    expect(versions(s.offer(v(2)))).toEqual([]);
    expect(versions(s.offer(v(3)))).toEqual([3]);
    expect(versions(s.offer(v(3)))).toEqual([]); // a duplicate (history and live both had it)
    expect(versions(s.offer(v(4)))).toEqual([4]);
    expect(s.last).toBe(4);
    expect(s.hasGap).toBe(false);
  });

  it('holds a change that leaves a gap until the missing ones come, then hands out the run', () => {
    const s = new StatusSequencer(0);
    expect(versions(s.offer(v(1)))).toEqual([1]);
    expect(versions(s.offer(v(4)))).toEqual([]);
    expect(versions(s.offer(v(3)))).toEqual([]);
    expect(s.hasGap).toBe(true);
    expect(s.missing).toEqual([2, 2]);
    expect(versions(s.offer(v(4)))).toEqual([]); // already waiting
    expect(versions(s.offer(v(2)))).toEqual([2, 3, 4]);
    expect(s.hasGap).toBe(false);
    expect(s.missing).toBeNull();
    expect(s.last).toBe(4);
  });

  it('gives the same output whatever the arrival order and repetition', () => {
    const arrivals = [[5, 3, 1, 2, 2, 4, 1, 5], [1, 2, 3, 4, 5, 5, 4], [4, 5, 1, 3, 2], [2, 1, 1, 3, 5, 4, 3]];
    for (const order of arrivals) {
      const s = new StatusSequencer(0);
      expect(order.flatMap((n) => versions(s.offer(v(n))))).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('ignores versions that are not positive integers', () => {
    const s = new StatusSequencer(0);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(s.offer(v(bad))).toEqual([]);
    expect(s.hasGap).toBe(false);
  });
});
