/**
 * Async iterators that stop at once. An `async function*` generator cannot: its `return()` waits
 * until the generator reaches its next `yield`, so a subscription whose client unsubscribes while
 * it waits for the next event would hold its upstream resources until that event came (maybe
 * never). These iterators resolve a pending `next()` with `done` as soon as `return()` is called.
 */

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/** An iterator whose consumer may instead take each value as it comes (see `deliverTo`). */
export interface PushIterator<T> extends AsyncIterableIterator<T> {
  /**
   * From now on each value goes to `deliver` when pushed (the queued ones at once): no promise per
   * value, which a consumer waiting on `next()` for seconds would otherwise hold into the old
   * generation. `next()` then settles only when the stream ends or fails. `deliver` returns false
   * when its consumer is backed up: the stream then fails with `overflow()` and releases its producer.
   */
  deliverTo(deliver: (value: T) => boolean): void;
}

export function isPushIterator<T = unknown>(value: unknown): value is PushIterator<T> {
  return typeof value === 'object' && value !== null && typeof (value as Partial<PushIterator<T>>).deliverTo === 'function';
}

export interface Pushable<T> {
  /** The consumer's side. `return()` ends it at once and calls `onReturn`. */
  readonly iterator: PushIterator<T>;
  /** Queues a value (ignored once ended). */
  push(value: T): void;
  /** Ends the stream after the queued values. */
  end(): void;
  /** Ends the stream after the queued values by throwing `error` to the consumer. */
  fail(error: unknown): void;
}

export interface PushableOptions {
  /** Called once when the consumer stops early (`return()`), or on overflow: release the producer there. */
  onReturn?: () => void;
  /** How many values may wait for a slow consumer; one more drops them and fails with `overflow()`. */
  maxBuffered?: number;
  overflow?: () => unknown;
}

export function pushable<T>({ onReturn, maxBuffered = 1_000, overflow = () => new Error('Stream overflow') }: PushableOptions = {}): Pushable<T> {
  const buffer: T[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let waiter: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  let deliver: ((value: T) => boolean) | undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    onReturn?.();
  };
  const settle = (result: IteratorResult<T> | { error: unknown }) => {
    const w = waiter;
    waiter = undefined;
    if (!w) return;
    if ('error' in result) w.reject(result.error);
    else w.resolve(result);
  };
  const failNow = (error: unknown) => {
    if (waiter) settle({ error });
    else failure = { error };
  };
  const overflowed = () => {
    buffer.length = 0;
    ended = true;
    failNow(overflow());
    release();
  };

  const iterator: PushIterator<T> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (buffer.length) return Promise.resolve({ value: buffer.shift()!, done: false });
      if (failure) {
        const { error } = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (ended) return Promise.resolve(DONE);
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return() {
      ended = true;
      buffer.length = 0;
      failure = undefined;
      settle(DONE);
      release();
      return Promise.resolve(DONE);
    },
    throw(error: unknown) {
      void iterator.return!();
      return Promise.reject(error);
    },
    deliverTo(consumer) {
      deliver = consumer;
      while (buffer.length) {
        if (!consumer(buffer.shift()!)) return overflowed();
      }
      if (ended && !failure) settle(DONE);
    },
  };

  return {
    iterator,
    push(value) {
      if (ended) return;
      if (deliver) {
        if (!deliver(value)) overflowed();
        return;
      }
      if (waiter) return settle({ value, done: false });
      if (buffer.length >= maxBuffered) return overflowed();
      buffer.push(value);
    },
    end() {
      if (ended) return;
      ended = true;
      if (!buffer.length) settle(DONE);
    },
    fail(error) {
      if (ended) return;
      ended = true;
      failNow(error);
    },
  };
}

/**
 * Maps each value of `source` through `fn`, one at a time (so order is kept). `return()` returns the
 * source at once; a value whose mapping finishes after that is dropped.
 */
export function mapAsync<A, B>(source: AsyncIterator<A>, fn: (value: A) => Promise<B>): AsyncIterableIterator<B> {
  let returned = false;
  const stop = async () => {
    if (returned) return;
    returned = true;
    await source.return?.();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (returned) return DONE;
      try {
        const result = await source.next();
        if (result.done || returned) return DONE;
        const value = await fn(result.value);
        return returned ? DONE : { value, done: false };
      } catch (error) {
        // A consumer's for-await does not call return() after next() throws: release the source here.
        await stop();
        throw error;
      }
    },
    async return() {
      await stop();
      return DONE;
    },
    async throw(error: unknown) {
      await stop();
      throw error;
    },
  };
}
