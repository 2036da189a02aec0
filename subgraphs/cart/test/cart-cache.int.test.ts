import { createRedis, type RedisClient } from '@shopgraph/kit';
import type { EventData } from '@shopgraph/events';
import { consumerOutcomes, eventProducer, eventually, graphql, redisUrl, scrapeMetrics, testLogger, testRedisKeyPrefix, type EventProducer, type ServiceUnderTest } from '@shopgraph/testkit';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductAvailability } from '../src/domain/product-availability.ts';
import { startCart } from './support.ts';

// The Redis cache-aside layer of carts, on the real Redis of the test run (this file's key prefix)
// and on Redis servers this file starts, stops and points the service at itself.

const products: ProductAvailability = { lookup: async () => ({ exists: true, availableQuantity: 1000 }) };
const consumed = consumerOutcomes();

/**
 * A cart service with its own database (in `replicas` processes), counting its Postgres reads of
 * carts; `holdNextFill` holds a cache fill.
 */
async function startCounted(env?: Record<string, string>, replicas = 1) {
  const counted = { reads: 0 };
  let pause: { userId: string; reached: () => void; release: Promise<void> } | undefined;
  const service = await startCart(
    {
      products,
      onMessage: consumed.record,
      onCartLoad: (userIds) => {
        counted.reads += userIds.length;
      },
      beforeCacheFill: async (userIds) => {
        const held = pause;
        if (!held || !userIds.includes(held.userId)) return;
        pause = undefined;
        held.reached();
        await held.release;
      },
    },
    { replicas, ...(env ? { env } : {}) },
  );
  /** Holds the next fill of `userId`'s cart until `release()`; `reached` resolves once a reader waits there. */
  const holdNextFill = (userId: string) => {
    let release!: () => void;
    let reached!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    pause = { userId: userId.toLowerCase(), reached, release: released };
    return { reached: arrived, release };
  };
  return { service, counted, holdNextFill };
}

type Started = Awaited<ReturnType<typeof startCounted>>;

const CART = '{ cart { id lines { product { id } quantity } } }';
const ADD = 'mutation($input: AddToCartInput!) { addToCart(input: $input) { cart { lines { product { id } quantity } } errors { code } } }';
const linesOf = (cart: { lines: { product: { id: string }; quantity: number }[] }) => cart.lines.map((line) => [line.product.id, line.quantity]);

/** Reads the caller's cart as [productId, quantity] lines; fails on any error. */
async function readCart(service: ServiceUnderTest, token: string): Promise<[string, number][]> {
  const response = await graphql(service.url, CART, {}, token);
  expect(response.errors).toBeUndefined();
  return linesOf(response.data!['cart']) as [string, number][];
}

async function add(service: ServiceUnderTest, token: string, productId: string, quantity = 1): Promise<[string, number][]> {
  const response = await graphql(service.url, ADD, { input: { productId, quantity } }, token);
  expect(response.errors).toBeUndefined();
  expect(response.data!['addToCart'].errors).toEqual([]);
  return linesOf(response.data!['addToCart'].cart) as [string, number][];
}

async function customer(service: ServiceUnderTest): Promise<{ userId: string; token: string }> {
  const userId = crypto.randomUUID();
  return { userId, token: await service.issuer.customer(userId) };
}

/** Runs `request` and fails unless it answered within `ms`. */
async function fast<T>(request: () => Promise<T>, ms = 1000): Promise<T> {
  const started = performance.now();
  const result = await request();
  expect(performance.now() - started, 'request duration (ms)').toBeLessThan(ms);
  return result;
}

/**
 * Resolves once the service serves carts from Redis: a read right after a read costs no database
 * query. Every read on the way must show `expected`.
 */
async function cacheInUse({ service, counted }: Started, token: string, expected: [string, number][]): Promise<void> {
  const seen: [string, number][][] = [];
  await eventually(async () => {
    seen.push(await readCart(service, token));
    const before = counted.reads;
    seen.push(await readCart(service, token));
    return counted.reads === before;
  }, 'the cart cache to be in use');
  expect(seen.filter((lines) => JSON.stringify(lines) !== JSON.stringify(expected))).toEqual([]);
}

/** A client of the test's own, to look at what the service keeps in Redis. */
async function inspector(url: string): Promise<RedisClient> {
  const client = createRedis({ url, name: 'cart-cache-test', logger: testLogger('cart-cache-test'), commandTimeoutMs: 2000 });
  await eventually(() => client.ready, `Redis at ${url}`);
  return client;
}

const entryKey = (userId: string) => `${testRedisKeyPrefix}cart:v1:${userId.toLowerCase()}`;
/** The cart Redis holds for a user, as [productId, quantity] lines (null: none), and the epoch it was written in. */
async function cached(redis: RedisClient, userId: string): Promise<{ epoch: string; lines: [string, number][] } | null> {
  const entry = await redis.redis.get(entryKey(userId));
  if (entry === null) return null;
  const sep = entry.indexOf('|');
  const cart = JSON.parse(entry.slice(sep + 1)) as { lines: { productId: string; quantity: number }[] };
  return { epoch: entry.slice(0, sep), lines: cart.lines.map((line) => [line.productId, line.quantity]) };
}

/** A loopback port nothing listens on (taken, then released). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('cart cache on Redis', () => {
  let started: Started;
  let service: ServiceUnderTest;
  let redis: RedisClient;
  let producer: EventProducer;

  beforeAll(async () => {
    started = await startCounted(undefined, 2);
    ({ service } = started);
    redis = await inspector(redisUrl());
    producer = eventProducer();
  });
  afterAll(async () => {
    await producer?.close();
    await redis?.close();
    await service?.close();
  });

  it('reads a cart from Postgres once, then from Redis', async () => {
    const { userId, token } = await customer(service);
    await cacheInUse(started, token, []);
    const a = crypto.randomUUID();
    expect(await add(service, token, a, 2)).toEqual([[a, 2]]);

    const before = started.counted.reads;
    const lookups = async () => {
      const metrics = await scrapeMetrics(service.url);
      return { hit: metrics.value('shopgraph_cache_lookups_total', { cache: 'cart', result: 'hit' }) || 0, miss: metrics.value('shopgraph_cache_lookups_total', { cache: 'cart', result: 'miss' }) || 0 };
    };
    const counts = await lookups();
    for (let i = 0; i < 3; i++) expect(await readCart(service, token)).toEqual([[a, 2]]);
    expect(started.counted.reads - before).toBe(0);
    // The hit ratio on /metrics counts them.
    expect(await lookups()).toEqual({ hit: counts.hit + 3, miss: counts.miss });
    // The cart the mutation answered with was read after its change, and is what Redis holds.
    expect(await cached(redis, userId)).toEqual({ epoch: expect.any(String), lines: [[a, 2]] });

    // A cold key: one Postgres read fills it, the next read does not touch Postgres.
    await redis.redis.del(entryKey(userId));
    const cold = started.counted.reads;
    expect(await readCart(service, token)).toEqual([[a, 2]]);
    expect(started.counted.reads - cold).toBe(1);
    expect(await readCart(service, token)).toEqual([[a, 2]]);
    expect(started.counted.reads - cold).toBe(1);
    expect(await lookups()).toEqual({ hit: counts.hit + 4, miss: counts.miss + 1 });
  });

  it('drops the cached cart on every change, so the next read shows it', async () => {
    const { userId, token } = await customer(service);
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(service, token, a);
    await cacheInUse(started, token, [[a, 1]]);

    expect(await add(service, token, b, 3)).toEqual([[a, 1], [b, 3]]);
    expect(await readCart(service, token)).toEqual([[a, 1], [b, 3]]);
    const update = await graphql(service.url, 'mutation($input: UpdateCartLineInput!) { updateCartLine(input: $input) { errors { code } } }', { input: { productId: a, quantity: 5 } }, token);
    expect(update.data!['updateCartLine'].errors).toEqual([]);
    expect(await readCart(service, token)).toEqual([[a, 5], [b, 3]]);
    const remove = await graphql(service.url, 'mutation($input: RemoveFromCartInput!) { removeFromCart(input: $input) { errors { code } } }', { input: { productId: b } }, token);
    expect(remove.data!['removeFromCart'].errors).toEqual([]);
    expect(await readCart(service, token)).toEqual([[a, 5]]);
    expect((await cached(redis, userId))?.lines).toEqual([[a, 5]]);
  });

  it("drops the cached cart when checkout takes an order's lines out and when a failed order puts them back (after the consumer's commit)", async () => {
    const { userId, token } = await customer(service);
    const a = crypto.randomUUID();
    await add(service, token, a, 3);
    await cacheInUse(started, token, [[a, 3]]);

    const orderId = crypto.randomUUID();
    const placed: EventData<'orders.order.placed'> = {
      orderId,
      userId,
      lines: [{ productId: a, quantity: 2, unitPrice: { amount: 100, currency: 'USD' } }],
      total: { amount: 200, currency: 'USD' },
      paymentMethod: 'pm_card_visa',
      shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
    };
    await consumed.handled(await producer.publish('orders.order.placed', orderId, placed));
    expect(await cached(redis, userId)).toBeNull();
    await cacheInUse(started, token, [[a, 1]]);

    const at = new Date().toISOString();
    await consumed.handled(await producer.publish('orders.order.status-changed', orderId, { orderId, userId, version: 2, status: 'PAYMENT_FAILED', reason: null, at }));
    expect(await cached(redis, userId)).toBeNull();
    expect(await readCart(service, token)).toEqual([[a, 3]]);
  });

  it('reads a cold cart from Postgres once for 50 concurrent readers', async () => {
    const { userId, token } = await customer(service);
    const a = crypto.randomUUID();
    await add(service, token, a, 4);
    await cacheInUse(started, token, [[a, 4]]);
    await redis.redis.del(entryKey(userId));

    const before = started.counted.reads;
    const carts = await Promise.all(Array.from({ length: 50 }, () => readCart(service, token)));
    expect(carts).toEqual(Array.from({ length: 50 }, () => [[a, 4]]));
    expect(started.counted.reads - before).toBe(1);
  });

  it('never lets a reader that read Postgres before a change put the old cart into Redis after it', async () => {
    const { userId, token } = await customer(service);
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await add(service, token, a);
    await cacheInUse(started, token, [[a, 1]]);
    await redis.redis.del(entryKey(userId));

    // The reader misses, reads Postgres (a only) and is held before it writes Redis.
    const held = started.holdNextFill(userId);
    const reader = readCart(service, token);
    await held.reached;
    try {
      // Meanwhile a change commits and drops the key; its own answer was read after it.
      expect(await add(service, token, b)).toEqual([[a, 1], [b, 1]]);
      // Even with the entry gone again (expired, evicted), the held reader may not fill it.
      await redis.redis.del(entryKey(userId));
    } finally {
      held.release();
    }
    expect(await reader).toEqual([[a, 1]]); // it began before the change: the old cart is a right answer for it

    expect(await cached(redis, userId)).toBeNull();
    expect(await readCart(service, token)).toEqual([[a, 1], [b, 1]]);
    expect((await cached(redis, userId))?.lines).toEqual([[a, 1], [b, 1]]);
  });

  it('never shares a Postgres read that began before a change another replica made', async () => {
    const { userId, token } = await customer(service);
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    const [one, other] = service.replicas.map((replica) => ({ ...service, url: replica.url }));
    await add(one!, token, a);
    await cacheInUse(started, token, [[a, 1]]);
    await redis.redis.del(entryKey(userId));

    // On one replica a reader misses and reads Postgres (a only), held before it fills Redis.
    const held = started.holdNextFill(userId);
    const early = readCart(one!, token);
    await held.reached;
    try {
      // The other replica changes the cart; the caller sees it succeed...
      expect(await add(other!, token, b)).toEqual([[a, 1], [b, 1]]);
      // ...so a read on the first replica (a miss again: the entry expired, say) must not join the
      // read still in flight there.
      await redis.redis.del(entryKey(userId));
      expect(await readCart(one!, token)).toEqual([[a, 1], [b, 1]]);
    } finally {
      held.release();
    }
    expect(await early).toEqual([[a, 1]]);
    expect((await cached(redis, userId))?.lines).toEqual([[a, 1], [b, 1]]);
  });

  it('serves and changes carts from Postgres, fast, when nothing listens at REDIS_URL, and is ready (Redis is not part of /readyz)', async () => {
    const down = await startCounted({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    try {
      expect((await fetch(new URL('/readyz', down.service.url))).status).toBe(200);
      const { token } = await customer(down.service);
      const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
      expect(await fast(() => readCart(down.service, token))).toEqual([]);
      expect(await fast(() => add(down.service, token, a, 2))).toEqual([[a, 2]]);
      expect(await fast(() => add(down.service, token, b))).toEqual([[a, 2], [b, 1]]);
      const before = down.counted.reads;
      for (let i = 0; i < 5; i++) expect(await fast(() => readCart(down.service, token))).toEqual([[a, 2], [b, 1]]);
      expect(down.counted.reads - before).toBe(5);
    } finally {
      await down.service.close();
    }
  });

  describe('with a Redis server that stops and comes back', () => {
    let dir: string;
    let port: number;
    let url: string;
    let own: Started;
    let ownRedis: RedisClient | undefined;

    /** Starts redis-server on `port` with its data in `dir` (a dump.rdb there is loaded). */
    const startRedis = async () => {
      execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--dir', dir, '--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')]);
      ownRedis = await inspector(url);
    };
    /** Stops it (SHUTDOWN SAVE: what it held comes back with it, as after a restart from a snapshot or a partition). */
    const stopRedis = async () => {
      await ownRedis!.redis.shutdown('SAVE').catch(() => {});
      await ownRedis!.close();
      ownRedis = undefined;
      await eventually(() => !isRunning(), 'redis-server to stop');
    };
    const pid = () => {
      if (!dir) return undefined;
      try {
        return Number(readFileSync(join(dir, 'redis.pid'), 'utf8'));
      } catch {
        return undefined;
      }
    };
    const isRunning = () => {
      const id = pid();
      if (!id) return false;
      try {
        process.kill(id, 0);
        return true;
      } catch {
        return false;
      }
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'cart-cache-redis-'));
      port = await freePort();
      url = `redis://127.0.0.1:${port}`;
      await startRedis();
      own = await startCounted({ REDIS_URL: url });
    });
    afterAll(async () => {
      await own?.service.close();
      await ownRedis?.close();
      const id = pid();
      if (id && isRunning()) process.kill(id, 'SIGTERM');
      await eventually(() => !isRunning(), 'redis-server to stop').catch(() => {});
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('keeps carts right and fast while it is away, and after it is back uses it again without a stale cart', async () => {
      const { userId, token } = await customer(own.service);
      const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      await add(own.service, token, a);
      await cacheInUse(own, token, [[a, 1]]);
      const before = (await cached(ownRedis!, userId))!;
      expect(before.lines).toEqual([[a, 1]]);

      await stopRedis();
      // Changes while Redis is away cannot drop the cached cart: it comes back with the server.
      expect(await fast(() => add(own.service, token, b))).toEqual([[a, 1], [b, 1]]);
      const reads = own.counted.reads;
      for (let i = 0; i < 3; i++) expect(await fast(() => readCart(own.service, token))).toEqual([[a, 1], [b, 1]]);
      expect(own.counted.reads - reads).toBe(3);

      await startRedis();
      // The old entry is back in Redis as it was...
      expect(await cached(ownRedis!, userId)).toEqual(before);
      // ...and never served: every read shows the change, until the cache is in use again.
      await cacheInUse(own, token, [[a, 1], [b, 1]]);
      const after = (await cached(ownRedis!, userId))!;
      expect(after.lines).toEqual([[a, 1], [b, 1]]);
      expect(after.epoch).not.toBe(before.epoch);

      // And changes drop entries again.
      expect(await add(own.service, token, c)).toEqual([[a, 1], [b, 1], [c, 1]]);
      expect(await readCart(own.service, token)).toEqual([[a, 1], [b, 1], [c, 1]]);
    });

    it('costs a reader at most about a command timeout while Redis takes commands but does not answer', async () => {
      const { token } = await customer(own.service);
      const a = crypto.randomUUID();
      await add(own.service, token, a);
      await cacheInUse(own, token, [[a, 1]]);

      await ownRedis!.redis.call('CLIENT', 'PAUSE', '2500', 'ALL');
      const until = Date.now() + 2500;
      while (Date.now() < until - 300) expect(await fast(() => readCart(own.service, token))).toEqual([[a, 1]]);
      await cacheInUse(own, token, [[a, 1]]);
    });
  });
});
