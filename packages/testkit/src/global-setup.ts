import { ensureKafka, ensurePostgres, ensureRedis, repoDirs } from '@shopgraph/infra';
import { isAlive, killStale } from '@shopgraph/infra/process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    redisUrl: string;
    kafkaBrokers: string[];
  }
}

/**
 * Finds or starts the real Postgres, Redis and Kafka once per run; a missing service fails the
 * run, never skips it. Kafka is a fresh single-node broker per run (about 6 s), unless
 * KAFKA_BROKERS names one.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { cache, data: dataRoot } = repoDirs();
  const data = join(dataRoot, 'test');
  const kafkaDir = await kafkaRunDir(join(data, 'kafka'));
  const [postgres, redis, kafka] = await Promise.allSettled([
    ensurePostgres({ dataDir: join(data, 'postgres') }),
    ensureRedis({ dataDir: join(data, 'redis') }),
    ensureKafka({ cacheDir: cache, dataDir: kafkaDir }),
  ]);
  const stop = async (): Promise<void> => {
    if (kafka.status === 'fulfilled') await kafka.value.stop();
    if (redis.status === 'fulfilled') await redis.value.stop();
    if (postgres.status === 'fulfilled') await postgres.value.stop();
    rmSync(kafkaDir, { recursive: true, force: true });
  };
  if (postgres.status === 'rejected' || redis.status === 'rejected' || kafka.status === 'rejected') {
    await stop();
    const failed = [postgres, redis, kafka].filter((r) => r.status === 'rejected');
    throw failed.length === 1 ? failed[0]!.reason : new AggregateError(failed.map((r) => r.reason), 'test infrastructure did not start');
  }
  project.provide('postgresUrl', postgres.value.url);
  project.provide('redisUrl', redis.value.url);
  project.provide('kafkaBrokers', kafka.value.brokers);
  return stop;
}

/**
 * A data dir of this setup's own: concurrent runs in one checkout, and the projects of one run
 * (each runs this setup, in the same process), must not stop each other's broker (a broker is
 * stopped by whoever next starts on its data dir), and topics with random test prefixes must not
 * pile up (a warm restart is no faster than a fresh broker anyway). Brokers left by runs that were
 * killed are stopped and their dirs removed here.
 */
async function kafkaRunDir(parent: string): Promise<string> {
  mkdirSync(parent, { recursive: true });
  for (const entry of readdirSync(parent)) {
    const owner = /^run-(\d+)-/.exec(entry)?.[1];
    if (!owner || isAlive(Number(owner))) continue;
    const dir = join(parent, entry);
    await killStale(join(dir, 'broker.pid'), join(dir, 'server.properties'));
    rmSync(dir, { recursive: true, force: true });
  }
  return join(parent, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
}
