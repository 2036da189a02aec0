// What bench:attacks runs and what its result file holds (read by `npm run reliability` too).

import type { JWK } from 'jose';

export const ATTACKS = ['documents', 'expensive', 'bruteforce', 'flood', 'websocket', 'jwt'] as const;
export type AttackName = (typeof ATTACKS)[number];

export interface AttackConfig {
  attack: AttackName;
  routerUrl: string;
  /** Requests (WebSocket: connection attempts and subscribes) per second. */
  rate: number;
  /** The account the brute force guesses the password of. */
  victimEmail: string;
  /** The attacking user's own valid customer token (flood, WebSocket). */
  attackerToken: string;
  /** An order of the attacking user's, to subscribe to. */
  orderId: string;
  /** The accounts service's signing key, to forge expired tokens that are otherwise valid. */
  accountsJwk: JWK;
  issuer: string;
}

export interface AttackResult {
  attack: AttackName;
  rate: number;
  seconds: number;
  sent: number;
  /** `HTTP <status> <code>` or, over WebSocket, `ack`, `close <code>`, `error <code>`, `next`. */
  outcomes: Record<string, number>;
  /** Requests not sent because too many were waiting (the router could not keep up). */
  skipped: number;
}

/** Each attack's rate (requests, or WebSocket actions, per second) at `--scale 1`, and what it should meet. */
export const ATTACK_PLAN: Record<AttackName, { rate: number; what: string; expect: string }> = {
  documents: { rate: 200, what: 'distinct legal-sized documents (28 KB of comments and whitespace each, under LIMIT_MAX_DOCUMENT_BYTES) from 10,000 anonymous addresses', expect: 'served (they are legal); router memory bounded by DOCUMENT_CACHE_BYTES and PLAN_CACHE_BYTES' },
  expensive: { rate: 200, what: 'sign-ins repeated with aliases (three `login` per mutation) from 10,000 anonymous addresses', expect: 'HTTP 400 EXPENSIVE_FIELD_REPEATED, no password hashed' },
  bruteforce: { rate: 50, what: 'password guesses on one account from one address', expect: 'TOO_MANY_ATTEMPTS after 5 guesses, waits doubling, no hash while refused' },
  flood: { rate: 500, what: 'cart reads from one address as one signed-in user, far past the per-user window', expect: 'HTTP 429 RATE_LIMITED with Retry-After once RATE_LIMIT_PER_USER is spent' },
  websocket: { rate: 50, what: 'one user opening WebSocket connections and subscribing to its order without end (1 connect in 5 actions)', expect: 'connections past LIMIT_MAX_WS_CONNECTIONS_PER_USER closed with 4029; subscriptions past LIMIT_MAX_SUBSCRIPTIONS_PER_USER refused with TOO_MANY_SUBSCRIPTIONS' },
  jwt: { rate: 200, what: 'forged tokens in turn: alg none, an unknown kid (a new one in each), expired but signed with the real key; 3,000 distinct tokens forged before the attack, from 10,000 addresses', expect: 'HTTP 401 UNAUTHENTICATED; the key server asked at most once per cool-down' },
};

export interface Window {
  requests: number;
  ok: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Legitimate requests that failed, by reason (none expected). */
  failures: Record<string, number>;
  skipped: number;
}

export interface AttackRow {
  attack: AttackName;
  what: string;
  expect: string;
  /** The attacker's rate asked for, and what it got back by code (all rounds together). */
  attacker: AttackResult | { error: string };
  /** Legitimate traffic during the attack: every round's window together. */
  legit: Window;
  /** Legitimate traffic in the windows without it, next to those (every round's together). */
  without: Window;
  /** Each round's p99 with and without, in the order measured. */
  rounds: { withP99Ms: number; withoutP99Ms: number }[];
  /** p99 during the attack over p99 without, both over all rounds. */
  p99Ratio: number;
  p50Ratio: number;
  pass: boolean;
  routerRssMiB: { before: number; after: number };
}

export interface AttacksReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: { nproc: number; cpuModel: string; memoryGiB: number; node: string; kernel: string };
  loadAverage: { start: string; end: string };
  options: { rate: number; seconds: number; rounds: number; warmupS: number; attackWarmupS: number; customers: number; products: number; scale: number; attacks: AttackName[] };
  targetRatio: number;
  legitimate: string;
  /** The router's resident memory before the first attack. */
  routerRssMiB?: number;
  attacks: AttackRow[];
  interrupted: boolean;
  error?: string;
  logs?: string;
}

