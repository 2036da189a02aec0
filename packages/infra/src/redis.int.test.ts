import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from './ports.ts';
import { ensureRedis, pingRedis, startRedisServer } from './redis.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'infra-redis-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function roundTrip(url: string): Promise<string | null> {
  const client = new Redis(url, { connectTimeout: 2000, commandTimeout: 2000, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const key = `infra-test:${process.pid}:${Date.now()}`;
    await client.set(key, 'hello', 'EX', 30);
    return await client.get(key);
  } finally {
    client.disconnect();
  }
}

describe('ensureRedis', () => {
  const savedEnv = process.env.REDIS_URL;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedEnv;
  });

  it('returns a URL of a Redis that stores and reads values', async () => {
    const { url, stop } = await ensureRedis({ dataDir });
    try {
      expect(await roundTrip(url)).toBe('hello');
    } finally {
      await stop();
    }
  });

  it('fails loudly when REDIS_URL does not answer', async () => {
    process.env.REDIS_URL = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await expect(ensureRedis({ dataDir })).rejects.toThrow(/REDIS_URL is set \(redis:\/\/127\.0\.0\.1:\d+\) but Redis there does not answer PING/);
    expect(Date.now() - started).toBeLessThan(5000); // fails fast, no endless reconnects
  });
});

describe('startRedisServer', () => {
  it('spawns redis-server as a child on a free port and stops it', async () => {
    const { url, stop } = await startRedisServer({ dataDir });
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toBe('redis://127.0.0.1:6379');
    try {
      expect(await roundTrip(url)).toBe('hello');
    } finally {
      await stop();
    }
    await expect(pingRedis(url, 500)).rejects.toThrow();
  });
});
