import { DomainError } from '@shopgraph/kit';
import { createHash } from 'node:crypto';

/**
 * How password guessing is slowed down. Every sign-in attempt is counted, before its password is
 * hashed, under three counters; past a counter's free attempts each further one must wait
 * 2^k seconds (k = attempts past the free ones - 1), capped at 15 minutes. Counters expire an
 * hour after their last attempt.
 *
 * - account and client IP (5 free): one attacker guessing one customer's password. Its delay
 *   falls on the attacker's IP only: the customer signing in from elsewhere is not slowed down.
 * - account, from every IP (50 free): guessing spread over many IPs. An IP this account has
 *   signed in from within 30 days is exempt, so spread-out guessing cannot keep its owner out
 *   on their usual network; elsewhere the owner waits at most the 15-minute cap per attempt.
 * - client IP, every account (50 free): one IP trying many accounts (password spraying). Only
 *   failures stay counted here, so a busy NAT of real customers is not slowed down.
 *
 * Counting happens atomically before the work, so concurrent attempts cannot all slip through
 * before the first failure is recorded. A successful sign-in clears the account's counters and
 * takes its attempt back from the IP's. Refreshing a refresh token is counted per IP the same way
 * (failures only). A refusal is TOO_MANY_ATTEMPTS with the seconds to wait (retryAfterSeconds).
 */
export const THROTTLE_POLICY = {
  windowMs: 60 * 60 * 1000,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60 * 1000,
  knownIpMs: 30 * 24 * 60 * 60 * 1000,
  free: { accountIp: 5, account: 50, ip: 50, refreshIp: 50 },
} as const;

export interface AttemptRule {
  key: string;
  /** Attempts that pass before the delay starts. */
  free: number;
}

/** Where attempts are counted (Redis, shared by the replicas; in-process while it is away). */
export interface AttemptStore {
  /** Counts an attempt under every rule, unless one of them still makes callers wait: then nothing is counted and the wait (ms) is returned; 0 means go ahead. */
  begin(rules: readonly AttemptRule[]): Promise<number>;
  /** After a success: `clear` counters are forgotten, `release` counters take this attempt back. */
  succeed(clear: readonly string[], release: readonly string[]): Promise<void>;
  /** Marks `key` for `ttlMs` (an IP an account signed in from). */
  remember(key: string, ttlMs: number): Promise<void>;
  knows(key: string): Promise<boolean>;
}

/** The wait after `attempts` counted under a rule with `free` free ones (0 while free). */
export function delayAfter(attempts: number, free: number): number {
  if (attempts <= free) return 0;
  return Math.min(THROTTLE_POLICY.baseDelayMs * 2 ** Math.min(attempts - free - 1, 30), THROTTLE_POLICY.maxDelayMs);
}

export class TooManyAttempts extends DomainError {
  readonly retryAfterSeconds: number;
  constructor(waitMs: number) {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    super('TOO_MANY_ATTEMPTS', `Too many attempts: try again in ${seconds} s`);
    this.retryAfterSeconds = seconds;
  }
}

// Keys hold no e-mail address, only its hash.
const digest = (value: string): string => createHash('sha256').update(value).digest('base64url').slice(0, 22);

/** Runs sign-ins and refreshes under THROTTLE_POLICY. */
export class SignInThrottle {
  private readonly store: AttemptStore;

  constructor(store: AttemptStore) {
    this.store = store;
  }

  /** Runs `signIn` for a normalised e-mail from a client IP, or throws TooManyAttempts before it starts. */
  async signIn<T>(email: string, ip: string, signIn: () => Promise<T>): Promise<T> {
    const account = digest(email);
    const keys = { accountIp: `a:${account}:${ip}`, account: `a:${account}`, ip: `i:${ip}`, known: `k:${account}:${ip}` };
    const { free } = THROTTLE_POLICY;
    const rules: AttemptRule[] = [{ key: keys.accountIp, free: free.accountIp }, { key: keys.ip, free: free.ip }];
    if (!(await this.store.knows(keys.known))) rules.push({ key: keys.account, free: free.account });
    const waitMs = await this.store.begin(rules);
    if (waitMs > 0) throw new TooManyAttempts(waitMs);
    const result = await signIn();
    await this.store.succeed([keys.accountIp, keys.account], [keys.ip]);
    await this.store.remember(keys.known, THROTTLE_POLICY.knownIpMs);
    return result;
  }

  /** Runs a refresh from a client IP, or throws TooManyAttempts before it starts. */
  async refresh<T>(ip: string, refresh: () => Promise<T>): Promise<T> {
    const key = `r:${ip}`;
    const waitMs = await this.store.begin([{ key, free: THROTTLE_POLICY.free.refreshIp }]);
    if (waitMs > 0) throw new TooManyAttempts(waitMs);
    const result = await refresh();
    await this.store.succeed([], [key]);
    return result;
  }
}
