import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** The URL of the Redis the global setup found or started. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A new random key prefix, `t<hex>:`. */
export const uniqueRedisKeyPrefix = (): string => `t${randomBytes(5).toString('hex')}:`;

/**
 * This test file's Redis key prefix: test files and runs sharing a Redis never see each other's
 * keys (like `testTopicPrefix` for Kafka).
 */
export const testRedisKeyPrefix = uniqueRedisKeyPrefix();

/** The env a service under test needs for Redis: the test server and this file's key prefix. */
export const redisEnv = (): { REDIS_URL: string; REDIS_KEY_PREFIX: string } => ({ REDIS_URL: redisUrl(), REDIS_KEY_PREFIX: testRedisKeyPrefix });
