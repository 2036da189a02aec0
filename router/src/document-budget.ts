import type { Identity } from '@shopgraph/core/auth';
import { LRUCache } from 'lru-cache';

/**
 * How many documents this router has not parsed before it takes per second: from anonymous callers
 * all together, and from each signed-in user. A document it knows costs a cache lookup; a new one
 * costs parsing, validation and a query plan, and a cache entry. Clients send the same few
 * documents over and over, so a flood of new ones (from as many addresses as an attacker has) is
 * refused before any of that work, while known documents are served as before.
 */
export interface DocumentBudget {
  /** Takes one new document from the caller's budget; false: over it. */
  take(identity: Identity | null): boolean;
}

export interface DocumentBudgetOptions {
  anonymousPerS: number;
  perUserPerS: number;
  /** How many seconds' worth a quiet bucket saves up (a client's first page asks several at once). */
  burstS?: number;
}

/** A token bucket: `rate` per second, at most `rate * burstS` saved up. */
class Bucket {
  private readonly rate: number;
  private readonly capacity: number;
  private tokens: number;
  private at = performance.now();
  constructor(rate: number, capacity: number) {
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = capacity;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export function documentBudget({ anonymousPerS, perUserPerS, burstS = 10 }: DocumentBudgetOptions): DocumentBudget {
  const anonymous = new Bucket(anonymousPerS, anonymousPerS * burstS);
  const users = new LRUCache<string, Bucket>({ max: 100_000 });
  return {
    take(identity) {
      if (!identity) return anonymous.take();
      let bucket = users.get(identity.userId);
      if (!bucket) users.set(identity.userId, (bucket = new Bucket(perUserPerS, perUserPerS * burstS)));
      return bucket.take();
    },
  };
}
