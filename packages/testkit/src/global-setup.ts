import { ensureElasticsearch, ensureKafka, ensureMailCatcher, ensurePostgres, ensureRedis, repoDirs, startEmbeddedPostgres, type ElasticsearchHandle } from '@shopgraph/infra';
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
    elasticsearchUrl: string;
    smtpUrl: string;
    mailCatcherUrl: string;
  }
}

/**
 * A test run's own Postgres: test files run two at a time, each with a whole supergraph (a dozen
 * connection pools), which a shared server's 100 connections do not hold. Durability is not what
 * the tests check (no test crashes Postgres itself), so commits do not wait on the disk.
 */
const TEST_POSTGRES = { max_connections: 500, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

/**
 * Finds or starts the real Postgres, Redis, Kafka, Elasticsearch and a mail catcher once per run, all at once; a
 * missing service fails the run, never skips it. Kafka (about 6 s) is a fresh single-node broker
 * per project and Elasticsearch (about 15 s) a fresh node per run, unless KAFKA_BROKERS /
 * ELASTICSEARCH_URL name one; Postgres (about 3 s) is a fresh embedded server per project unless
 * DATABASE_URL names one. Processes the tests start (`scripts/stack.ts`) find it as DATABASE_URL.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { cache, data: dataRoot } = repoDirs();
  const data = join(dataRoot, 'test');
  const kafkaDir = await runDir(join(data, 'kafka'), (dir) => killStale(join(dir, 'broker.pid'), join(dir, 'server.properties')));
  const node = sharedElasticsearch(cache, join(data, 'elasticsearch'));
  const mailDir = await runDir(join(data, 'mail'), (dir) => killStale(join(dir, 'maildev.pid'), 'maildev'));
  const postgresDir = await runDir(join(data, 'postgres'), (dir) => killStale(join(dir, 'pgdata', 'postmaster.pid'), join(dir, 'pgdata'), { signal: 'SIGINT' }));
  const [postgres, redis, kafka, elasticsearch, mail] = await Promise.allSettled([
    process.env.DATABASE_URL ? ensurePostgres({ dataDir: postgresDir }) : startEmbeddedPostgres({ dataDir: postgresDir, settings: TEST_POSTGRES }),
    ensureRedis({ dataDir: join(data, 'redis') }),
    ensureKafka({ cacheDir: cache, dataDir: kafkaDir }),
    node.started,
    ensureMailCatcher({ dataDir: mailDir }),
  ]);
  const stop = async (): Promise<void> => {
    await node.release();
    if (kafka.status === 'fulfilled') await kafka.value.stop();
    if (redis.status === 'fulfilled') await redis.value.stop();
    if (postgres.status === 'fulfilled') await postgres.value.stop();
    if (mail.status === 'fulfilled') await mail.value.stop();
    rmSync(kafkaDir, { recursive: true, force: true });
    rmSync(mailDir, { recursive: true, force: true });
    rmSync(postgresDir, { recursive: true, force: true });
  };
  if (postgres.status === 'rejected' || redis.status === 'rejected' || kafka.status === 'rejected' || elasticsearch.status === 'rejected' || mail.status === 'rejected') {
    await stop();
    const failed = [postgres, redis, kafka, elasticsearch, mail].filter((r) => r.status === 'rejected');
    throw failed.length === 1 ? failed[0]!.reason : new AggregateError(failed.map((r) => r.reason), 'test infrastructure did not start');
  }
  project.provide('postgresUrl', postgres.value.url);
  process.env.DATABASE_URL ??= postgres.value.url;
  project.provide('redisUrl', redis.value.url);
  project.provide('kafkaBrokers', kafka.value.brokers);
  project.provide('elasticsearchUrl', elasticsearch.value.url);
  project.provide('smtpUrl', mail.value.smtpUrl);
  project.provide('mailCatcherUrl', mail.value.inboxUrl);
  return stop;
}

interface SharedNode {
  started: Promise<{ handle: ElasticsearchHandle; dir: string }>;
  users: number;
}
const run = globalThis as typeof globalThis & { shopgraphTestElasticsearch?: SharedNode };

/**
 * The run's Elasticsearch, shared by its projects (they run this setup in one process): each
 * test file has its own index prefix, so one node serves them all, and a JVM less starts beside
 * the Kafka brokers. The last project to release it stops it.
 */
function sharedElasticsearch(cacheDir: string, parent: string): { started: Promise<ElasticsearchHandle>; release(): Promise<void> } {
  const node = (run.shopgraphTestElasticsearch ??= {
    users: 0,
    started: runDir(parent, (dir) => killStale(join(dir, 'elasticsearch.pid'), `path.data=${join(dir, 'data')}`)).then(async (dir) => {
      try {
        return { handle: await ensureElasticsearch({ cacheDir, dataDir: dir }), dir };
      } catch (error) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }),
  });
  node.users++;
  return {
    started: node.started.then(({ handle }) => handle),
    async release() {
      if (--node.users > 0) return;
      delete run.shopgraphTestElasticsearch;
      const started = await node.started.catch(() => undefined);
      await started?.handle.stop();
      if (started) rmSync(started.dir, { recursive: true, force: true });
    },
  };
}

/**
 * A data dir of this setup's own, under `parent`: concurrent runs in one checkout (and, for
 * Kafka, the projects of one run, which each run this setup in the same process) must not stop
 * each other's node (a node is stopped by whoever next starts on its data dir), and topics and
 * indices with random test prefixes must not pile up (a warm restart is no faster than a fresh
 * node anyway). Nodes left by runs that were killed are stopped (`killStaleIn`) and their dirs
 * removed here.
 */
async function runDir(parent: string, killStaleIn: (dir: string) => Promise<unknown>): Promise<string> {
  mkdirSync(parent, { recursive: true });
  for (const entry of readdirSync(parent)) {
    const owner = /^run-(\d+)-/.exec(entry)?.[1];
    if (!owner || isAlive(Number(owner))) continue;
    const dir = join(parent, entry);
    await killStaleIn(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  return join(parent, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
}
