import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import { findBinary, killStale, spawnManaged, tailFile } from './process.ts';
import { errorText, noop, redactUrl, type Log } from './util.ts';

export type RedisHandle = {
  url: string;
  /** Stops the server if this call started it; a no-op for servers found running. */
  stop(): Promise<void>;
};

/** The server these machines run; tried when REDIS_URL is unset. */
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Finds or starts Redis, in this order:
 * 1. REDIS_URL if set; if it does not answer PING we throw rather than start another.
 * 2. The server on 127.0.0.1:6379 if it answers PING.
 * 3. Debian's `redis-server` binary as a child process (no persistence), dying with us.
 * No npm package ships a Redis server, so without the binary we fail with instructions.
 */
export async function ensureRedis(opts: { dataDir: string; log?: Log }): Promise<RedisHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    try {
      await pingRedis(fromEnv);
    } catch (err) {
      throw new Error(
        `REDIS_URL is set (${redactUrl(fromEnv)}) but Redis there does not answer PING: ${errorText(err)}. ` +
          'Start that server, fix REDIS_URL, or unset it to use a local Redis.',
        { cause: err },
      );
    }
    log(`redis: using REDIS_URL ${redactUrl(fromEnv)}`);
    return { url: fromEnv, stop: async () => {} };
  }

  try {
    await pingRedis(LOCAL_REDIS_URL);
    log(`redis: using the running server at ${LOCAL_REDIS_URL}`);
    return { url: LOCAL_REDIS_URL, stop: async () => {} };
  } catch (err) {
    log(`redis: nothing at 127.0.0.1:6379 (${errorText(err)}); starting redis-server`);
  }
  return startRedisServer({ dataDir: opts.dataDir, log });
}

/**
 * Starts `redis-server` on a free loopback port as a child process: no RDB/AOF persistence
 * (it is a cache here), working dir and log in dataDir.
 */
export async function startRedisServer(opts: { dataDir: string; port?: number; log?: Log }): Promise<RedisHandle> {
  const log = opts.log ?? noop;
  const binary = findBinary('redis-server');
  if (!binary) {
    throw new Error(
      'No Redis available: REDIS_URL is unset, nothing answers on 127.0.0.1:6379 and no redis-server binary ' +
        'is on PATH. Set REDIS_URL to a running Redis, or install one: apt-get install redis-server',
    );
  }
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'redis-server.pid');
  const logFile = join(dataDir, 'redis-server.log');
  // redis-server rewrites its title to "redis-server 127.0.0.1:<port>", so that is the marker.
  await killStale(pidFile, 'redis-server', { log });

  const port = opts.port ?? (await freePort());
  const started = Date.now();
  const child = await spawnManaged(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir],
    { logFile, pidFile, cwd: dataDir },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 10_000; ; ) {
    if (!child.isRunning()) {
      throw new Error(`redis-server exited during start-up; ${logFile}:\n${tailFile(logFile)}`);
    }
    try {
      await pingRedis(url, 500);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await child.stop(2000);
        throw new Error(`redis-server on port ${port} did not answer PING within 10s (${errorText(err)}); ${logFile}:\n${tailFile(logFile)}`, { cause: err });
      }
      await sleep(100);
    }
  }
  log(`redis: redis-server ready on 127.0.0.1:${port} in ${Date.now() - started}ms`);
  return {
    url,
    stop: async () => {
      await child.stop(5000);
    },
  };
}

/** Throws unless the server at url answers PING within timeoutMs; never queues or retries. */
export async function pingRedis(url: string, timeoutMs = 2000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null, // one attempt: a probe must fail fast, not reconnect forever
  });
  client.on('error', () => {}); // reported through the rejected promise instead
  try {
    await client.connect();
    const reply = await client.ping();
    if (reply !== 'PONG') throw new Error(`unexpected PING reply ${JSON.stringify(reply)}`);
  } finally {
    client.disconnect();
  }
}
