import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '@shopgraph/core/log';

/** The Redis a local machine runs (what `npm start` and the tests look for first). */
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * How a service reaches Redis. Redis only ever holds what can be rebuilt (a cache): a service
 * that reads this must work without it. An empty `REDIS_URL` means no Redis at all;
 * `REDIS_KEY_PREFIX` is prepended to every key (it isolates test runs sharing one server).
 */
export const redisConfig = z.object({
  REDIS_URL: z.union([z.literal(''), z.url({ protocol: /^rediss?$/, error: 'expected redis://… or rediss://… (or empty: no Redis)' })]).default(LOCAL_REDIS_URL),
  REDIS_KEY_PREFIX: z.string().default(''),
});
export type RedisConfig = z.infer<typeof redisConfig>;

export interface RedisClientOptions {
  url: string;
  /** The service's name: the connection's name on the server and in logs. */
  name: string;
  logger: Logger;
  /** How long a connection attempt may take (TCP connect and the ready check); default 1000 ms. */
  connectTimeoutMs?: number;
  /** How long a command may wait for its reply before it rejects; default 300 ms. */
  commandTimeoutMs?: number;
  /** The longest wait between two reconnection attempts; default 2000 ms. */
  maxReconnectDelayMs?: number;
  /** At most one line per this interval for repeated connection errors; default 30 s. */
  errorLogIntervalMs?: number;
}

export interface RedisClient {
  /**
   * The ioredis client. Every command settles in bounded time: it rejects at once while the
   * connection is not ready (no offline queue), and after `commandTimeoutMs` when Redis does not
   * answer. It is never resent after a reconnection.
   */
  readonly redis: Redis;
  /** Connected and ready. When false, skip Redis: a command would only reject. */
  readonly ready: boolean;
  /** Calls `listener` every time the connection becomes ready (the first time and after each reconnection). */
  onReady(listener: () => void): void;
  /** Calls `listener` every time a ready connection is lost (the client keeps reconnecting). */
  onLost(listener: () => void): void;
  /** Closes the connection and stops reconnecting. */
  close(): Promise<void>;
}

/**
 * A Redis client that fails fast instead of hanging (ioredis' defaults queue commands while
 * disconnected, with no command timeout and 20 resends each): bounded connect and command
 * timeouts, no offline queue, no resending of commands after a reconnection, and a socket that
 * answers nothing for a while is dropped. It connects in the background and keeps
 * reconnecting forever (exponential backoff capped at `maxReconnectDelayMs`, with jitter); starting
 * does not wait for Redis. Connection errors are logged at most once per `errorLogIntervalMs`
 * (with how many were suppressed), never thrown: a Redis outage never crashes the process.
 */
export function createRedis(options: RedisClientOptions): RedisClient {
  const commandTimeoutMs = options.commandTimeoutMs ?? 300;
  const maxDelayMs = options.maxReconnectDelayMs ?? 2_000;
  const log = options.logger.child({ component: 'redis' });
  const redis = new Redis(options.url, {
    // rediss:// is TLS (verified against the system's CAs). Said here, not left to ioredis, which
    // recognises only a lower-case "rediss://" and would talk plaintext to "REDISS://".
    ...(new URL(options.url).protocol === 'rediss:' ? { tls: {} } : {}),
    connectionName: options.name,
    connectTimeout: options.connectTimeoutMs ?? 1_000,
    commandTimeout: commandTimeoutMs,
    // A server that takes a command and stays silent (hung, paused, a dead peer without a reset)
    // costs one command timeout, not one per request: the socket is dropped and we reconnect.
    socketTimeout: Math.max(1_000, commandTimeoutMs * 3),
    // TCP keep-alive after 10 s idle (ioredis' 0 leaves the OS's 2 h): a dead peer is found between commands too.
    keepAlive: 10_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // A command that timed out has been reported as failed; running it later would surprise its caller.
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(maxDelayMs, 50 * 2 ** Math.min(attempt, 16)) + Math.floor(Math.random() * 100),
    // After a failover the old primary refuses writes: reconnect to find the new one.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  });
  const warn = rateLimited(options.errorLogIntervalMs ?? 30_000);
  let wasReady = false;
  const readyListeners: (() => void)[] = [];
  const lostListeners: (() => void)[] = [];
  const notify = (listeners: (() => void)[]) => {
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        log.error({ err: error }, 'redis: a connection listener failed');
      }
    }
  };
  // Without an error listener ioredis reports every failed attempt as unhandled.
  redis.on('error', (error: Error) => warn((suppressed) => log.warn({ err: error, url: redacted(options.url), suppressed }, 'redis: connection error; retrying in the background')));
  redis.on('ready', () => {
    wasReady = true;
    log.info({ url: redacted(options.url) }, 'redis: ready');
    notify(readyListeners);
  });
  redis.on('close', () => {
    if (!wasReady) return;
    wasReady = false;
    notify(lostListeners);
  });

  let closing: Promise<void> | undefined;
  return {
    redis,
    get ready() {
      return redis.status === 'ready';
    },
    onReady: (listener) => void readyListeners.push(listener),
    onLost: (listener) => void lostListeners.push(listener),
    close: () =>
      (closing ??= (async () => {
        if (redis.status === 'ready') await redis.quit().catch(() => {});
        redis.disconnect();
      })()),
  };
}

/**
 * Rate-limits a repeated report: `report(log)` calls `log(suppressed)` at most once per
 * `intervalMs`, with how many reports were dropped since the last one that went through.
 */
export function rateLimited(intervalMs: number): (log: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (log) => {
    const now = performance.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    const dropped = suppressed;
    suppressed = 0;
    log(dropped);
  };
}

/** A Redis URL without its password, for logs. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(invalid URL)';
  }
}
