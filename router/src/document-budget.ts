import type { Identity } from '@shopgraph/core/auth';
import { LRUCache } from 'lru-cache';

/**
 * How much of its time this router spends on documents it has not seen before: from anonymous
 * callers all together, and from each signed-in user, in milliseconds per second. A known document
 * costs a cache lookup; a new one costs parsing, validation and a query plan, from well under a
 * millisecond to tens of them (padding, many fields, deep fragments). Counting documents would let
 * an attacker pick the costliest ones, so the budget is drawn by the time each one took: clients
 * send the same few documents over and over, and a flood of new ones, from as many addresses as an
 * attacker has, gets at most that share of the router, the rest refused before any parsing.
 */
export interface DocumentBudget {
  /** Whether a new document of the caller's may be prepared now: false while its budget is spent. */
  admits(identity: Identity | null): boolean;
  /** Draws what preparing a new document took from the caller's budget. */
  charge(identity: Identity | null, ms: number): void;
}

export interface DocumentBudgetOptions {
  anonymousMsPerS: number;
  perUserMsPerS: number;
  /** How many seconds' worth a quiet budget saves up (a client's first page sends several at once). */
  burstS?: number;
  /** The clock, in ms (tests). */
  now?: () => number;
}

/** A bucket of milliseconds: `rate` a second, at most `capacity` saved up; a charge may overdraw it, which waits to be repaid. */
class Bucket {
  private readonly rate: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private balance: number;
  private at: number;
  constructor(rate: number, capacity: number, now: () => number) {
    this.rate = rate;
    this.capacity = capacity;
    this.now = now;
    this.balance = capacity;
    this.at = now();
  }
  private refill(): void {
    const now = this.now();
    this.balance = Math.min(this.capacity, this.balance + ((now - this.at) / 1000) * this.rate);
    this.at = now;
  }
  hasCredit(): boolean {
    this.refill();
    return this.balance > 0;
  }
  draw(ms: number): void {
    this.refill();
    this.balance -= ms;
  }
}

export function documentBudget({ anonymousMsPerS, perUserMsPerS, burstS = 10, now = () => performance.now() }: DocumentBudgetOptions): DocumentBudget {
  const anonymous = new Bucket(anonymousMsPerS, anonymousMsPerS * burstS, now);
  const users = new LRUCache<string, Bucket>({ max: 100_000 });
  const bucketOf = (identity: Identity | null): Bucket => {
    if (!identity) return anonymous;
    let bucket = users.get(identity.userId);
    if (!bucket) users.set(identity.userId, (bucket = new Bucket(perUserMsPerS, perUserMsPerS * burstS, now)));
    return bucket;
  };
  return {
    admits: (identity) => bucketOf(identity).hasCredit(),
    charge: (identity, ms) => bucketOf(identity).draw(ms),
  };
}
