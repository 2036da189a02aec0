import { describe, expect, it } from 'vitest';
import { mapAsync, pushable } from './stream.ts';

describe('pushable', () => {
  it('delivers queued and live values in order, then ends', async () => {
    const stream = pushable<number>();
    stream.push(1);
    const pending = stream.iterator.next();
    expect(await pending).toEqual({ value: 1, done: false });
    const live = stream.iterator.next();
    stream.push(2);
    expect(await live).toEqual({ value: 2, done: false });
    stream.push(3);
    stream.end();
    stream.push(4);
    expect(await stream.iterator.next()).toEqual({ value: 3, done: false });
    expect((await stream.iterator.next()).done).toBe(true);
  });

  it('return() ends a pending next() at once and releases the producer once', async () => {
    let released = 0;
    const stream = pushable<number>({ onReturn: () => released++ });
    const pending = stream.iterator.next();
    await stream.iterator.return!();
    expect((await pending).done).toBe(true);
    await stream.iterator.return!();
    expect(released).toBe(1);
    stream.push(1);
    expect((await stream.iterator.next()).done).toBe(true);
  });

  it('fail() throws after the queued values', async () => {
    const stream = pushable<number>();
    stream.push(1);
    stream.fail(new Error('boom'));
    expect(await stream.iterator.next()).toEqual({ value: 1, done: false });
    await expect(stream.iterator.next()).rejects.toThrow('boom');
    expect((await stream.iterator.next()).done).toBe(true);
  });

  it('drops the buffer of a consumer that falls behind, fails it, and releases the producer', async () => {
    let released = 0;
    const stream = pushable<number>({ maxBuffered: 2, onReturn: () => released++, overflow: () => new Error('overflow') });
    for (const n of [1, 2, 3]) stream.push(n);
    expect(released).toBe(1);
    await expect(stream.iterator.next()).rejects.toThrow('overflow');
  });

  describe('deliverTo', () => {
    it('hands over the queued values at once and each later one as it is pushed; next() settles at the end', async () => {
      const stream = pushable<number>();
      stream.push(1);
      const delivered: number[] = [];
      stream.iterator.deliverTo((n) => delivered.push(n) > 0);
      expect(delivered).toEqual([1]);
      let settled = false;
      const ending = stream.iterator.next().then((result) => ((settled = true), result));
      stream.push(2);
      stream.push(3);
      expect(delivered).toEqual([1, 2, 3]);
      await Promise.resolve();
      expect(settled).toBe(false);
      stream.end();
      expect(await ending).toEqual({ value: undefined, done: true });
    });

    it('fails a backed-up consumer with overflow() and releases the producer once', async () => {
      let released = 0;
      const stream = pushable<number>({ onReturn: () => released++, overflow: () => new Error('overflow') });
      const delivered: number[] = [];
      stream.iterator.deliverTo((n) => n < 2 && delivered.push(n) > 0);
      const ending = stream.iterator.next();
      stream.push(1);
      stream.push(2);
      stream.push(3);
      await expect(ending).rejects.toThrow('overflow');
      expect(delivered).toEqual([1]);
      expect(released).toBe(1);
    });

    it('delivers nothing after return(), and a failure reaches the pending next()', async () => {
      const stream = pushable<number>();
      const delivered: number[] = [];
      stream.iterator.deliverTo((n) => delivered.push(n) > 0);
      const failing = stream.iterator.next();
      stream.fail(new Error('upstream closed'));
      await expect(failing).rejects.toThrow('upstream closed');

      const other = pushable<number>();
      other.iterator.deliverTo((n) => delivered.push(n) > 0);
      await other.iterator.return!();
      other.push(9);
      expect(delivered).toEqual([]);
    });
  });
});

describe('mapAsync', () => {
  it('maps one value at a time, in order', async () => {
    const source = pushable<number>();
    const mapped = mapAsync(source.iterator, async (n) => {
      await new Promise((resolve) => setTimeout(resolve, n === 1 ? 20 : 0));
      return n * 10;
    });
    source.push(1);
    source.push(2);
    source.end();
    const seen: number[] = [];
    for await (const value of mapped) seen.push(value);
    expect(seen).toEqual([10, 20]);
  });

  it('return() returns the source at once, even while it waits for a value', async () => {
    let released = 0;
    const source = pushable<number>({ onReturn: () => released++ });
    const mapped = mapAsync(source.iterator, async (n) => n);
    const pending = mapped.next();
    await mapped.return!();
    expect((await pending).done).toBe(true);
    expect(released).toBe(1);
  });

  it('releases the source when mapping fails (for-await does not call return() after a throw)', async () => {
    let released = 0;
    const source = pushable<number>({ onReturn: () => released++ });
    const mapped = mapAsync(source.iterator, async () => {
      throw new Error('bad event');
    });
    source.push(1);
    await expect(mapped.next()).rejects.toThrow('bad event');
    expect(released).toBe(1);
  });
});
