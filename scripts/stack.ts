// The whole supergraph as separate processes on this machine, no Docker: finds or starts the
// infrastructure, gives each subgraph its own database, starts the subgraphs, then the router.
// `npm start` runs it on the ports of supergraph.yaml; benchmarks run it on free ports.
import { createDatabase, databaseUrl, dropDatabase, ensureElasticsearch, ensureKafka, ensurePostgres, ensureRedis, freePort, repoDirs, spawnManaged, type ManagedChild } from '@shopgraph/infra';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTER_NODE_FLAGS } from '../router/src/node-flags.ts';
import { readSupergraphConfig, SUPERGRAPH_FILE } from './compose.ts';

export interface StackOptions {
  /** `fixed`: the ports of supergraph.yaml and `routerPort`; `free`: any free ports. */
  ports: 'fixed' | 'free';
  routerPort?: number;
  /** Databases are `<databasePrefix>_<subgraph>`; `fresh` drops them first. */
  databasePrefix: string;
  fresh?: boolean;
  /** Where infrastructure keeps its data and services their logs, under .data/. */
  dataDir: string;
  /** Extra env for every service (e.g. KAFKA_TOPIC_PREFIX, STAFF_*). */
  env?: Record<string, string>;
  log?: (message: string) => void;
}

export interface Stack {
  routerUrl: string;
  subgraphUrls: Record<string, string>;
  databaseUrls: Record<string, string>;
  kafkaBrokers: string[];
  elasticsearchUrl: string;
  logs: string;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { root, cache } = repoDirs();
  const data = join(repoDirs().data, options.dataDir);
  const logs = join(data, 'logs');
  mkdirSync(logs, { recursive: true });
  const say = options.log ?? (() => {});
  const stops: (() => Promise<void>)[] = [];
  const children: ManagedChild[] = [];
  const stop = async () => {
    for (const child of children.splice(0).reverse()) await child.stop();
    for (const stopInfra of stops.splice(0).reverse()) await stopInfra();
  };

  try {
    // Infrastructure: each finds a configured or running server, or starts one.
    const postgres = await ensurePostgres({ dataDir: join(data, 'postgres'), log: say });
    stops.push(postgres.stop);
    const redis = await ensureRedis({ dataDir: join(data, 'redis'), log: say });
    stops.push(redis.stop);
    // Kafka and Elasticsearch are JVMs that take seconds to start: both at once.
    const [kafka, elasticsearch] = await Promise.allSettled([
      ensureKafka({ cacheDir: cache, dataDir: join(data, 'kafka'), log: say }),
      ensureElasticsearch({ cacheDir: cache, dataDir: join(data, 'elasticsearch'), log: say }),
    ]);
    for (const started of [kafka, elasticsearch]) if (started.status === 'fulfilled') stops.push(started.value.stop);
    if (kafka.status === 'rejected') throw kafka.reason;
    if (elasticsearch.status === 'rejected') throw elasticsearch.reason;

    const subgraphs = await Promise.all(
      readSupergraphConfig().map(async (s) => ({ name: s.name, port: options.ports === 'fixed' ? Number(new URL(s.url).port) : await freePort() })),
    );
    const routerPort = options.ports === 'fixed' ? (options.routerPort ?? 4000) : await freePort();
    const url = (port: number) => `http://127.0.0.1:${port}/graphql`;
    const routerUrl = url(routerPort);
    const subgraphUrls = Object.fromEntries(subgraphs.map((s) => [s.name, url(s.port)]));
    // Where each subgraph is: the router routes there, cart checks products with catalog and
    // inventory, orders reads a checkout from cart, catalog and payments.
    const subgraphUrlEnv = Object.fromEntries(subgraphs.map((s) => [`SUBGRAPH_${s.name.toUpperCase()}_URL`, subgraphUrls[s.name]!]));
    const databaseUrls: Record<string, string> = {};
    for (const { name } of subgraphs) {
      const database = `${options.databasePrefix}_${name}`;
      if (options.fresh) await dropDatabase(postgres.url, database);
      await createDatabase(postgres.url, database);
      databaseUrls[name] = databaseUrl(postgres.url, database);
    }

    const issuer = new URL(subgraphUrls['accounts']!).origin;
    const shared = {
      NODE_ENV: process.env.NODE_ENV ?? 'development',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      KAFKA_BROKERS: kafka.value.brokers.join(','),
      REDIS_URL: redis.url,
      ELASTICSEARCH_URL: elasticsearch.value.url,
      JWT_ISSUER: issuer,
      JWT_JWKS_URL: `${issuer}/.well-known/jwks.json`,
      ...subgraphUrlEnv,
      ...options.env,
    };
    const start = async (name: string, entry: string, port: number, env: Record<string, string> = {}, nodeFlags: readonly string[] = []) => {
      const logFile = join(logs, `${name}.log`);
      const child = await spawnManaged(process.execPath, [...nodeFlags, entry], { logFile, cwd: root, env: { ...process.env, ...shared, ...env, PORT: String(port) } });
      children.push(child);
      await waitUntilReady(name, `http://127.0.0.1:${port}/readyz`, child, logFile);
      say(`${name} ready`);
    };
    const startSubgraph = (s: (typeof subgraphs)[number]) => start(s.name, join(root, 'subgraphs', s.name, 'src/index.ts'), s.port, { DATABASE_URL: databaseUrls[s.name]! });
    // Accounts first: every other service fetches the token signing keys from it.
    for (const s of subgraphs.filter((s) => s.name === 'accounts')) await startSubgraph(s);
    await Promise.all(subgraphs.filter((s) => s.name !== 'accounts').map(startSubgraph));
    await start('router', join(root, 'router/src/index.ts'), routerPort, { SUPERGRAPH_PATH: SUPERGRAPH_FILE }, ROUTER_NODE_FLAGS);
    return { routerUrl, subgraphUrls, databaseUrls, kafkaBrokers: kafka.value.brokers, elasticsearchUrl: elasticsearch.value.url, logs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitUntilReady(name: string, url: string, child: ManagedChild, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.isRunning()) throw new Error(`${name} exited during start-up; see ${logFile}`);
    if (await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} not ready after ${timeoutMs / 1000}s; see ${logFile}`);
}
