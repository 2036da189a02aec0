import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** The URL of the Elasticsearch the global setup found or started. */
export function elasticsearchUrl(): string {
  return inject('elasticsearchUrl');
}

/** A new random index prefix, `t<hex>-`. */
export const uniqueIndexPrefix = (): string => `t${randomBytes(5).toString('hex')}-`;

/**
 * This test file's index prefix: test files and runs sharing an Elasticsearch never see each
 * other's indices (like `testTopicPrefix` for Kafka).
 */
export const testIndexPrefix = uniqueIndexPrefix();

/** The env a service under test needs for Elasticsearch: the test node and this file's index prefix. */
export const elasticsearchEnv = (): { ELASTICSEARCH_URL: string; ELASTICSEARCH_INDEX_PREFIX: string } => ({ ELASTICSEARCH_URL: elasticsearchUrl(), ELASTICSEARCH_INDEX_PREFIX: testIndexPrefix });
