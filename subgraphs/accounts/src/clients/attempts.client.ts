import { rateLimited, type Logger, type RedisClient } from '@shopgraph/kit';
import { delayAfter, THROTTLE_POLICY, type AttemptStore } from '../domain/throttle.ts';

// Sign-in attempt counters. Keys (after REDIS_KEY_PREFIX), per rule key: `throttle:<key>:n`, the
// attempts (expiring THROTTLE_POLICY.windowMs after the last), and `throttle:<key>:wait`, present
// while callers must wait (its TTL is the wait).
//
// While Redis cannot be asked, attempts are counted in this process instead (fail open to a local
// limiter): refusing every sign-in would turn a cache outage into an outage of the shop, and no
// limit at all would leave guessing free while it lasts. The local counts are per replica and are
// not merged back into Redis.

/** KEYS: count and wait key per rule. ARGV: window (ms), base delay (ms), max delay (ms), then the free attempts per rule. */
const BEGIN = `
local longest = 0
for i = 2, #KEYS, 2 do
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl > longest then longest = ttl end
end
if longest > 0 then return longest end
for i = 1, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  local free = tonumber(ARGV[3 + (i + 1) / 2])
  if n > free then
    local delay = math.min(tonumber(ARGV[2]) * 2 ^ math.min(n - free - 1, 30), tonumber(ARGV[3]))
    redis.call('SET', KEYS[i + 1], '1', 'PX', math.floor(delay))
  end
end
return 0
`;

/** KEYS: the counters to take one attempt back from (never below zero). */
const RELEASE = `
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
`;

const countKey = (key: string) => `throttle:${key}:n`;
const waitKey = (key: string) => `throttle:${key}:wait`;

/** Counters in this process's memory, bounded (the oldest go first); the fallback while Redis is away. */
export function memoryAttempts(maxKeys = 100_000): AttemptStore {
  const entries = new Map<string, { count: number; expiresAt: number; waitUntil: number }>();
  const live = (key: string, now: number) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now) entries.delete(key);
    return entry && entry.expiresAt > now ? entry : undefined;
  };
  const put = (key: string, value: { count: number; expiresAt: number; waitUntil: number }) => {
    entries.delete(key);
    entries.set(key, value);
    if (entries.size > maxKeys) entries.delete(entries.keys().next().value!);
  };
  return {
    async begin(rules) {
      const now = Date.now();
      const waitMs = Math.max(0, ...rules.map((rule) => (live(rule.key, now)?.waitUntil ?? 0) - now));
      if (waitMs > 0) return waitMs;
      for (const rule of rules) {
        const count = (live(rule.key, now)?.count ?? 0) + 1;
        put(rule.key, { count, expiresAt: now + THROTTLE_POLICY.windowMs, waitUntil: now + delayAfter(count, rule.free) });
      }
      return 0;
    },
    async succeed(clear, release) {
      for (const key of clear) entries.delete(key);
      const now = Date.now();
      for (const key of release) {
        const entry = live(key, now);
        if (entry && entry.count > 1) entry.count--;
        else entries.delete(key);
      }
    },
    async remember(key, ttlMs) {
      put(key, { count: 0, expiresAt: Date.now() + ttlMs, waitUntil: 0 });
    },
    async knows(key) {
      return live(key, Date.now()) !== undefined;
    },
  };
}

/** Counters in Redis, shared by every replica; in `fallback` while Redis cannot be asked. */
export function redisAttempts(options: { client: RedisClient; keyPrefix: string; logger: Logger; fallback?: AttemptStore }): AttemptStore {
  const { client, keyPrefix } = options;
  const fallback = options.fallback ?? memoryAttempts();
  const warn = rateLimited(30_000);
  const prefixed = (key: string) => `${keyPrefix}${key}`;
  const orFallback = async <T>(run: () => Promise<T>, local: () => Promise<T>): Promise<T> => {
    if (!client.ready) return local();
    try {
      return await run();
    } catch (error) {
      warn((suppressed) => options.logger.warn({ err: error, suppressed }, 'sign-in throttle: Redis failed, counting in this process'));
      return local();
    }
  };
  return {
    begin: (rules) =>
      orFallback(async () => {
        const keys = rules.flatMap((rule) => [prefixed(countKey(rule.key)), prefixed(waitKey(rule.key))]);
        const { windowMs, baseDelayMs, maxDelayMs } = THROTTLE_POLICY;
        return Number(await client.redis.eval(BEGIN, keys.length, ...keys, windowMs, baseDelayMs, maxDelayMs, ...rules.map((rule) => rule.free)));
      }, () => fallback.begin(rules)),
    succeed: (clear, release) =>
      orFallback(async () => {
        if (clear.length) await client.redis.del(...clear.flatMap((key) => [prefixed(countKey(key)), prefixed(waitKey(key))]));
        if (release.length) await client.redis.eval(RELEASE, release.length, ...release.map((key) => prefixed(countKey(key))));
      }, () => fallback.succeed(clear, release)),
    remember: (key, ttlMs) =>
      orFallback(async () => {
        await client.redis.set(prefixed(`throttle:${key}`), '1', 'PX', ttlMs);
      }, () => fallback.remember(key, ttlMs)),
    knows: (key) => orFallback(async () => (await client.redis.exists(prefixed(`throttle:${key}`))) === 1, () => fallback.knows(key)),
  };
}
