import { Scope, type Identity } from '@shopgraph/core/auth';
import type { Logger } from '@shopgraph/core/log';
import { GraphQLError } from 'graphql';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

/**
 * Rate limits at the router, shared by every replica through Redis: operations per client IP and,
 * for a signed-in caller, per user, each over a sliding window and over a one-second one. The long
 * window alone would let a subject spend all of it in a burst (600 a minute, all in one second); the
 * second bounds the burst. A refused operation is not counted.
 *
 * The window slides as a sliding-window counter (two fixed windows, the previous one weighted by
 * how much of it still overlaps the window ending now): one Redis hash per subject, O(1) memory and
 * one round trip per check, with Redis's clock as the one clock of every replica. No maintained
 * library offers a sliding window on ioredis (rate-limiter-flexible's Redis limiters count fixed
 * windows, which let twice the limit through across a window boundary), so it is this script.
 *
 * Redis away (or slow) never stops the router: the check fails open, the operation is served, the
 * failure logged (at most once per 30 s) and counted.
 *
 * A refusal says when the subject may send again, and refused operations are not counted, so until
 * then this replica refuses that subject from memory, without a round trip: a flood costs Redis one
 * check per subject and window, not one per operation.
 */

export const RATE_LIMITED = 'RATE_LIMITED';

/** Who an operation is counted against. */
export interface RateSubject {
  ip: string;
  /** The signed-in caller; null or undefined when anonymous. */
  identity?: Identity | null | undefined;
}

/** `allowed`, or when to come back: seconds until the subject's window lets one more through. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterS: number; subject: 'ip' | 'user' };

/** What a check came to, for metrics: `unavailable` was served without a check (Redis away). */
export type RateCheckResult = 'allowed' | 'limited' | 'unavailable';

export interface RateLimiter {
  check(subject: RateSubject): Promise<RateDecision>;
  /** Settles once the first connection is up, or failed to come up within its connect timeout. */
  connected(): Promise<void>;
  close(): Promise<void>;
}

/** No rate limiting (REDIS_URL empty). */
export const NO_RATE_LIMIT: RateLimiter = { check: async () => ({ allowed: true }), connected: async () => {}, close: async () => {} };

export interface RedisRateLimiterOptions {
  url: string;
  keyPrefix: string;
  perIp: number;
  perUser: number;
  windowS: number;
  /** Operations per second, over a one-second sliding window. */
  burstPerIp: number;
  burstPerUser: number;
  logger: Logger;
  /** Told of every check's result (metrics). */
  onCheck?: (result: RateCheckResult) => void;
  /** How long a check may wait for Redis before the operation is served unchecked; default 200 ms. */
  commandTimeoutMs?: number;
}

// KEYS: a hash per subject and window (fields: window index → count); ARGV[2i - 1]: KEYS[i]'s window in ms, ARGV[2i]: its limit.
// Returns { 0, 0 } when every subject may send one more (then counted), else { i, ms until KEYS[i] would let one through }.
const SLIDING_WINDOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local index = math.floor(now / window)
  local elapsed = now - index * window
  local current = tonumber(redis.call('HGET', key, tostring(index)) or '0')
  local previous = tonumber(redis.call('HGET', key, tostring(index - 1)) or '0')
  if previous * (window - elapsed) / window + current + 1 > limit then
    local wait
    if current + 1 > limit then
      wait = window - elapsed + window * (1 - (limit - 1) / current)
    else
      wait = window - (limit - 1 - current) * window / previous - elapsed
    end
    return { i, math.max(1, math.ceil(wait)) }
  end
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local index = math.floor(now / window)
  redis.call('HINCRBY', key, tostring(index), 1)
  redis.call('HDEL', key, tostring(index - 2))
  redis.call('PEXPIRE', key, window * 2)
end
return { 0, 0 }
`;

type SlidingWindowCommand = (numberOfKeys: number, ...args: (string | number)[]) => Promise<[number, number]>;

export function redisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const { keyPrefix, perIp, perUser, burstPerIp, burstPerUser, logger, onCheck } = options;
  const windowMs = options.windowS * 1000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 200;
  // Fail fast, never queue (ioredis' defaults wait forever): a check either answers now or is skipped.
  const connectTimeoutMs = 1_000;
  const redis = new Redis(options.url, {
    connectionName: 'router',
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    socketTimeout: Math.max(1_000, commandTimeoutMs * 3),
    // TCP keep-alive after 10 s idle (ioredis' 0 leaves the OS's 2 h): a dead peer is found between commands too.
    keepAlive: 10_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(2_000, 50 * 2 ** Math.min(attempt, 16)) + Math.floor(Math.random() * 100),
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  });
  redis.defineCommand('slidingWindow', { lua: SLIDING_WINDOW });
  const slidingWindow = (redis as unknown as { slidingWindow: SlidingWindowCommand }).slidingWindow.bind(redis);
  let lastWarning = -Infinity;
  let suppressed = 0;
  const warn = (error: unknown, message: string) => {
    if (performance.now() - lastWarning < 30_000) return void suppressed++;
    lastWarning = performance.now();
    logger.warn({ err: error, suppressed }, message);
    suppressed = 0;
  };
  redis.on('error', (error: Error) => warn(error, 'rate limiting: Redis connection error; operations are served unchecked until it is back'));
  // Subjects refused lately, by key: until when (performance.now()) a check would refuse them too.
  const refusedUntil = new LRUCache<string, number>({ max: 100_000 });
  const stillRefused = (key: string, now: number): number | undefined => {
    const until = refusedUntil.get(key);
    return until !== undefined && until > now ? until : undefined;
  };

  // Until the first connection is up every check would be skipped: a router's first operations unchecked.
  const firstConnection = new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, connectTimeoutMs * 2).unref();
    redis.once('ready', done);
  });

  return {
    connected: () => firstConnection,
    async check({ ip, identity }) {
      // Staff are counted by address only: back-office tools send bursts (imports), and staff tokens are few and ours.
      const userId = identity && !identity.scopes.has(Scope.STAFF) ? identity.userId : undefined;
      const ipKey = `${keyPrefix}ratelimit:ip:${ip}`;
      const userKey = userId === undefined ? undefined : `${keyPrefix}ratelimit:user:${userId}`;
      const now = performance.now();
      // Keyed by subject: whichever of its windows refused it, it is refused until then.
      for (const [key, subject] of [[ipKey, 'ip'], [userKey, 'user']] as const) {
        const until = key === undefined ? undefined : stillRefused(key, now);
        if (until !== undefined) {
          onCheck?.('limited');
          return { allowed: false, retryAfterS: Math.max(1, Math.ceil((until - now) / 1000)), subject };
        }
      }
      if (redis.status !== 'ready') {
        onCheck?.('unavailable');
        return { allowed: true };
      }
      const windows: { subject: 'ip' | 'user'; key: string; redisKey: string; windowMs: number; limit: number }[] = [
        { subject: 'ip', key: ipKey, redisKey: ipKey, windowMs, limit: perIp },
        { subject: 'ip', key: ipKey, redisKey: `${ipKey}:1s`, windowMs: 1_000, limit: burstPerIp },
      ];
      if (userKey !== undefined) {
        windows.push({ subject: 'user', key: userKey, redisKey: userKey, windowMs, limit: perUser }, { subject: 'user', key: userKey, redisKey: `${userKey}:1s`, windowMs: 1_000, limit: burstPerUser });
      }
      let answer: [number, number];
      try {
        answer = await slidingWindow(windows.length, ...windows.map((w) => w.redisKey), ...windows.flatMap((w) => [w.windowMs, w.limit]));
      } catch (error) {
        warn(error, 'rate limiting: Redis check failed; operation served unchecked');
        onCheck?.('unavailable');
        return { allowed: true };
      }
      const [refusedBy, waitMs] = answer;
      if (!refusedBy) {
        onCheck?.('allowed');
        return { allowed: true };
      }
      onCheck?.('limited');
      const refusing = windows[refusedBy - 1]!;
      refusedUntil.set(refusing.key, now + waitMs);
      return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)), subject: refusing.subject };
    },
    async close() {
      if (redis.status === 'ready') await redis.quit().catch(() => {});
      redis.disconnect();
    },
  };
}

/** The error a rate-limited operation gets, on every transport. */
export function rateLimitedError(decision: Extract<RateDecision, { allowed: false }>): GraphQLError {
  const whose = decision.subject === 'ip' ? 'this client address' : 'this user';
  return new GraphQLError(`Too many operations from ${whose}: retry in ${decision.retryAfterS} s`, { extensions: { code: RATE_LIMITED, retryAfter: decision.retryAfterS } });
}

