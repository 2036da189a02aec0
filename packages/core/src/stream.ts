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

export function pushable<T>(options: PushableOptions = {}): Pushable<T> {
  return new PushableStream<T>(options);
}

/**
 * Both sides in one object, its methods on the prototype: a server holding 10,000s of subscriptions
 * holds one of these each, not a dozen closures and their contexts.
 */
class PushableStream<T> implements Pushable<T>, PushIterator<T> {
  readonly #onReturn: (() => void) | undefined;
  readonly #maxBuffered: number;
  readonly #overflow: () => unknown;
  #buffer: T[] | undefined;
  #ended = false;
  #released = false;
  #failure: { error: unknown } | undefined;
  #waiter: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  #deliver: ((value: T) => boolean) | undefined;

  constructor({ onReturn, maxBuffered = 1_000, overflow = () => new Error('Stream overflow') }: PushableOptions) {
    this.#onReturn = onReturn;
    this.#maxBuffered = maxBuffered;
    this.#overflow = overflow;
  }

  get iterator(): PushIterator<T> {
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(value: T): void {
    if (this.#ended) return;
    if (this.#deliver) {
      if (!this.#deliver(value)) this.#overflowed();
      return;
    }
    if (this.#waiter) return this.#settle({ value, done: false });
    const buffer = (this.#buffer ??= []);
    if (buffer.length >= this.#maxBuffered) return this.#overflowed();
    buffer.push(value);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#buffer?.length) this.#settle(DONE);
  }

  fail(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failNow(error);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer?.length) return Promise.resolve({ value: this.#buffer.shift()!, done: false });
    if (this.#failure) {
      const { error } = this.#failure;
      this.#failure = undefined;
      return Promise.reject(error);
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#ended = true;
    this.#buffer = undefined;
    this.#failure = undefined;
    this.#settle(DONE);
    this.#release();
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<IteratorResult<T>> {
    void this.return();
    return Promise.reject(error);
  }

  deliverTo(deliver: (value: T) => boolean): void {
    this.#deliver = deliver;
    while (this.#buffer?.length) {
      if (!deliver(this.#buffer.shift()!)) return this.#overflowed();
    }
    if (this.#ended && !this.#failure) this.#settle(DONE);
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#onReturn?.();
  }

  #settle(result: IteratorResult<T> | { error: unknown }): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (!waiter) return;
    if ('error' in result) waiter.reject(result.error);
    else waiter.resolve(result);
  }

  #failNow(error: unknown): void {
    if (this.#waiter) this.#settle({ error });
    else this.#failure = { error };
  }

  #overflowed(): void {
    this.#buffer = undefined;
    this.#ended = true;
    this.#failNow(this.#overflow());
    this.#release();
  }
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
