import { ensurePostgres, ensureRedis, repoRoot } from '@shopgraph/infra';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    redisUrl: string;
  }
}

/** Finds or starts the real Postgres and Redis once per run; a missing service fails the run, never skips it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const data = join(repoRoot(), '.data/test');
  const postgres = await ensurePostgres({ dataDir: join(data, 'postgres') });
  const redis = await ensureRedis({ dataDir: join(data, 'redis') });
  project.provide('postgresUrl', postgres.url);
  project.provide('redisUrl', redis.url);
  return async () => {
    await redis.stop();
    await postgres.stop();
  };
}
