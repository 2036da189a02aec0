import { describe, expect, it, vi } from 'vitest';
import { rateLimited, redisConfig } from './redis.ts';

describe('redisConfig', () => {
  it('defaults to the local Redis, takes redis:// and rediss:// URLs, and empty for none', () => {
    expect(redisConfig.parse({})).toEqual({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: '' });
    expect(redisConfig.parse({ REDIS_URL: '' }).REDIS_URL).toBe('');
    expect(redisConfig.parse({ REDIS_URL: 'rediss://user:secret@cache.example:6380/1' }).REDIS_URL).toBe('rediss://user:secret@cache.example:6380/1');
    expect(redisConfig.safeParse({ REDIS_URL: 'http://cache.example' }).success).toBe(false);
    expect(redisConfig.safeParse({ REDIS_URL: 'not a url' }).success).toBe(false);
  });
});

describe('rateLimited', () => {
  it('lets one report through per interval, counting the ones it dropped', () => {
    vi.useFakeTimers();
    try {
      const report = rateLimited(1000);
      const logged: number[] = [];
      for (let i = 0; i < 5; i++) report((suppressed) => logged.push(suppressed));
      expect(logged).toEqual([0]);
      vi.advanceTimersByTime(1000);
      report((suppressed) => logged.push(suppressed));
      report((suppressed) => logged.push(suppressed));
      expect(logged).toEqual([0, 4]);
    } finally {
      vi.useRealTimers();
    }
  });
});
