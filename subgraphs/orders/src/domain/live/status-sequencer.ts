/**
 * Puts an order's status changes, arriving from its history and live from Kafka in any order and
 * any number of times, into version order, each once: `offer` returns what can be sent now. A
 * version already sent (or at most the starting cursor) is a duplicate and dropped; one beyond the
 * next expected waits until the versions before it have come (`missingAfter` tells the caller
 * which to read from the database).
 */
export class StatusSequencer<T extends { version: number }> {
  #last: number;
  readonly #waiting = new Map<number, T>();

  /** `after`: the last version the subscriber already has (0 for none). */
  constructor(after: number) {
    this.#last = after;
  }

  /** The last version handed out (or the starting cursor). */
  get last(): number {
    return this.#last;
  }

  /** Whether changes wait behind a gap: the versions after `last` up to the first waiting one are missing. */
  get hasGap(): boolean {
    return this.#waiting.size > 0;
  }

  /** The versions missing before the first waiting change, as [from, to] (inclusive), or null. */
  get missing(): [from: number, to: number] | null {
    if (!this.#waiting.size) return null;
    return [this.#last + 1, Math.min(...this.#waiting.keys()) - 1];
  }

  /** Takes one change; returns the changes that are now next in line, in version order (often none or just this one). */
  offer(change: T): T[] {
    const { version } = change;
    if (!Number.isInteger(version) || version <= this.#last || this.#waiting.has(version)) return [];
    if (version !== this.#last + 1) {
      this.#waiting.set(version, change);
      return [];
    }
    const ready = [change];
    this.#last = version;
    for (let next = this.#waiting.get(this.#last + 1); next; next = this.#waiting.get(this.#last + 1)) {
      this.#waiting.delete(next.version);
      ready.push(next);
      this.#last = next.version;
    }
    return ready;
  }
}
