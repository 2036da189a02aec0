// The whole supergraph as separate processes on this machine, no Docker: finds or starts the
// infrastructure, gives each subgraph its own database, starts the subgraphs, then the router.
// `npm start` runs it on the ports of supergraph.yaml; benchmarks run it on free ports.
import { createDatabase, databaseUrl, dropDatabase, ensureElasticsearch, ensureKafka, ensureMailCatcher, ensurePostgres, ensureRedis, ensureZipkin, findBinary, freePort, repoDirs, spawnManaged, startElasticsearch, startKafka, startRedisServer, waitForElasticsearch, waitForKafka, type ManagedChild } from '@shopgraph/infra';
import { isAlive } from '@shopgraph/infra/process';
import { chownSync, existsSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@shopgraph/core/node-flags';
import { ROUTER_NODE_FLAGS } from '../router/src/node-flags.ts';
import { contractSchemas } from '../events/src/compatibility.ts';
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
  /** Trace every service into a Zipkin server (found through ZIPKIN_URL, or started). */
  tracing?: boolean;
  /**
   * Kafka, Redis and Elasticsearch are started as this stack's own children, never a shared or
   * configured server, so that `Stack.processes` can kill and start them again (scripts/chaos.ts).
   */
  ownInfrastructure?: boolean;
  /** Use this Elasticsearch instead of finding or starting one (a test run's shared node). */
  elasticsearchUrl?: string;
}

/** One process of the stack that can be killed and started again as it was (same ports, env and data). */
export interface StackProcess {
  readonly pid: number | undefined;
  isRunning(): boolean;
  /** Sends the signal (SIGKILL: a crash; SIGTERM: a clean stop) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again (after `kill`) and resolves once it is ready. */
  start(): Promise<void>;
}

export interface Stack {
  routerUrl: string;
  /** The schema registry, with this repository's subgraphs and event contracts published to variant `dev`. */
  registryUrl: string;
  subgraphUrls: Record<string, string>;
  databaseUrls: Record<string, string>;
  kafkaBrokers: string[];
  elasticsearchUrl: string;
  /** The mail catcher's web inbox, where every e-mail the stack sends lands. */
  mailInboxUrl: string;
  /** Zipkin's UI, with `tracing`. */
  tracesUrl?: string;
  logs: string;
  /** By name: every subgraph, `registry`, `router` and, with `ownInfrastructure`, `kafka`, `redis` and `elasticsearch` (unless given). */
  processes: Map<string, StackProcess>;
  stop(): Promise<void>;
  /** Drops the databases the stack created (each subgraph's and the registry's); call it after `stop`. */
  dropDatabases(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { root, cache } = repoDirs();
  const data = join(repoDirs().data, options.dataDir);
  const logs = join(data, 'logs');
  mkdirSync(logs, { recursive: true });
  const say = options.log ?? (() => {});
  const stops: (() => Promise<void>)[] = [];
  const children: ManagedChild[] = [];
  const processes = new Map<string, StackProcess>();
  // Infrastructure started again by `processes` (its first start's stop is a no-op by then).
  const restartedInfra = new Map<string, () => Promise<void>>();
  const stop = async () => {
    for (const child of children.splice(0).reverse()) await child.stop();
    for (const stopInfra of [...restartedInfra.values()].reverse()) await stopInfra();
    restartedInfra.clear();
    for (const stopInfra of stops.splice(0).reverse()) await stopInfra();
  };

  try {
    // Infrastructure: each finds a configured or running server, or starts one.
    const postgres = await ensurePostgres({ dataDir: join(data, 'postgres'), log: say });
    stops.push(postgres.stop);
    const own = options.ownInfrastructure === true;
    const redis = own ? await startRedisServer({ dataDir: join(data, 'redis'), log: say }) : await ensureRedis({ dataDir: join(data, 'redis'), log: say });
    stops.push(redis.stop);
    const mail = await ensureMailCatcher({ dataDir: join(data, 'mail'), log: say });
    stops.push(mail.stop);
    // Kafka, Elasticsearch and Zipkin are JVMs that take seconds to start: all at once.
    const [kafka, elasticsearch, zipkin] = await Promise.allSettled([
      (own ? startKafka : ensureKafka)({ cacheDir: cache, dataDir: join(data, 'kafka'), log: say }),
      options.elasticsearchUrl
        ? waitForElasticsearch(options.elasticsearchUrl, { timeoutMs: 15_000 }).then(() => ({ url: options.elasticsearchUrl!, stop: async () => {} }))
        : (own ? startElasticsearch : ensureElasticsearch)({ cacheDir: cache, dataDir: join(data, 'elasticsearch'), log: say }),
      options.tracing ? ensureZipkin({ cacheDir: cache, dataDir: join(data, 'zipkin'), log: say }) : Promise.resolve(undefined),
    ]);
    for (const started of [kafka, elasticsearch, zipkin]) if (started.status === 'fulfilled' && started.value) stops.push(started.value.stop);
    if (kafka.status === 'rejected') throw kafka.reason;
    if (elasticsearch.status === 'rejected') throw elasticsearch.reason;
    if (zipkin.status === 'rejected') throw zipkin.reason;
    const tracing = zipkin.value ? { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.value.spansUrl } : {};
    if (own) {
      const port = Number(new URL(redis.url).port);
      processes.set('redis', relaunchable(join(data, 'redis', 'redis-server.pid'), async () => {
        restartedInfra.set('redis', (await startRedisServer({ dataDir: join(data, 'redis'), port, log: say })).stop);
      }));
      processes.set('kafka', relaunchable(join(data, 'kafka', 'broker.pid'), async (launch) => {
        restartedInfra.set('kafka', await launch(join(data, 'kafka', 'broker-restarted.log')));
        await waitForKafka(kafka.value.brokers, { timeoutMs: 60_000 });
      }));
      if (!options.elasticsearchUrl) {
        processes.set('elasticsearch', relaunchable(join(data, 'elasticsearch', 'elasticsearch.pid'), async (launch) => {
          restartedInfra.set('elasticsearch', await launch(join(data, 'elasticsearch', 'elasticsearch-restarted.log')));
          await waitForElasticsearch(elasticsearch.value.url, { timeoutMs: 180_000 });
        }));
      }
    }

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
      SMTP_URL: mail.smtpUrl,
      ...tracing,
      JWT_ISSUER: issuer,
      JWT_JWKS_URL: `${issuer}/.well-known/jwks.json`,
      ...subgraphUrlEnv,
      ...options.env,
    };
    const start = async (name: string, entry: string, port: number, env: Record<string, string> = {}, nodeFlags: readonly string[] = []) => {
      let starts = 0;
      const launch = async () => {
        // A restart logs to a file of its own, so the crashed process's last words are kept.
        const logFile = join(logs, starts++ === 0 ? `${name}.log` : `${name}.${starts - 1}.log`);
        const child = await spawnManaged(process.execPath, [...nodeFlags, entry], { logFile, cwd: root, env: { ...process.env, ...shared, ...env, PORT: String(port) } });
        children.push(child);
        await waitUntilReady(name, `http://127.0.0.1:${port}/readyz`, child, logFile);
        return child;
      };
      let child = await launch();
      processes.set(name, {
        get pid() {
          return child.isRunning() ? child.pid : undefined;
        },
        isRunning: () => child.isRunning(),
        async kill(signal = 'SIGKILL') {
          if (child.isRunning()) process.kill(child.pid, signal);
          await child.exited;
          if (children.includes(child)) children.splice(children.indexOf(child), 1);
        },
        async start() {
          if (child.isRunning()) throw new Error(`${name} is running`);
          child = await launch();
        },
      });
      say(`${name} ready`);
    };
    const startSubgraph = (s: (typeof subgraphs)[number]) => start(s.name, join(root, 'subgraphs', s.name, 'src/index.ts'), s.port, { DATABASE_URL: databaseUrls[s.name]! }, SERVICE_NODE_FLAGS);
    // Accounts first: every other service fetches the token signing keys from it.
    for (const s of subgraphs.filter((s) => s.name === 'accounts')) await startSubgraph(s);
    await Promise.all(subgraphs.filter((s) => s.name !== 'accounts').map(startSubgraph));
    // The schema registry, on a database of its own, with what the subgraphs serve published to `dev`.
    const registryPort = options.ports === 'fixed' ? 4100 : await freePort();
    const registryUrl = url(registryPort);
    const registryDatabase = `${options.databasePrefix}_registry`;
    if (options.fresh) await dropDatabase(postgres.url, registryDatabase);
    await createDatabase(postgres.url, registryDatabase);
    await start('registry', join(root, 'registry/src/index.ts'), registryPort, { DATABASE_URL: databaseUrl(postgres.url, registryDatabase), REGISTRY_TOKENS: DEV_REGISTRY_TOKENS }, SERVICE_NODE_FLAGS);
    await publishToRegistry(registryUrl, subgraphs.map((s) => ({ name: s.name, url: subgraphUrls[s.name]! })));
    // The router reads supergraph.graphql unless REGISTRY_URL is set: then it follows the stack's registry.
    const routerSource: Record<string, string> = process.env.REGISTRY_URL ? { REGISTRY_URL: registryUrl, REGISTRY_TOKEN: DEV_ROUTER_TOKEN, REGISTRY_VARIANT: 'dev' } : {};
    await start('router', join(root, 'router/src/index.ts'), routerPort, { SUPERGRAPH_PATH: SUPERGRAPH_FILE, ...routerSource }, ROUTER_NODE_FLAGS);
    // A Postgres the stack started itself is gone with it: nothing to drop there.
    const dropDatabases = async () => {
      for (const database of [...subgraphs.map((s) => `${options.databasePrefix}_${s.name}`), registryDatabase]) await dropDatabase(postgres.url, database).catch(() => {});
    };
    return { routerUrl, registryUrl, subgraphUrls, databaseUrls, kafkaBrokers: kafka.value.brokers, elasticsearchUrl: elasticsearch.value.url, mailInboxUrl: mail.inboxUrl, ...(zipkin.value ? { tracesUrl: `${zipkin.value.url}/zipkin/` } : {}), logs, processes, stop, dropDatabases };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The local stack's registry tokens, known like its demo passwords (README "Schema registry"). */
const DEV_PUBLISH_TOKEN = 'dev-registry-token';
const DEV_ROUTER_TOKEN = 'dev-router-token';
const DEV_REGISTRY_TOKENS = `dev:check+publish:${DEV_PUBLISH_TOKEN},router:router+usage:${DEV_ROUTER_TOKEN}`;

/** Publishes the subgraphs' SDLs (at the URLs they run on) and the event contracts to the registry's `dev` variant. */
async function publishToRegistry(registryUrl: string, subgraphs: { name: string; url: string }[]): Promise<void> {
  const schemas = new Map(readSupergraphConfig().map((s) => [s.name, readFileSync(s.schemaPath, 'utf8')]));
  const eventContracts = Object.entries(contractSchemas()).map(([type, c]) => ({ type, topic: c.topic, dataVersion: c.dataVersion, schema: JSON.stringify(c.schema) }));
  const response = await fetch(registryUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${DEV_PUBLISH_TOKEN}` },
    body: JSON.stringify({
      query: 'mutation($input: PublishSchemaInput!) { publishSchema(input: $input) { errors { message } } }',
      variables: { input: { variant: 'dev', author: 'npm start', subgraphs: subgraphs.map((s) => ({ ...s, sdl: schemas.get(s.name) })), eventContracts } },
    }),
  });
  const body = (await response.json()) as { errors?: { message: string }[]; data?: { publishSchema: { errors: { message: string }[] } } };
  const problems = [...(body.errors ?? []), ...(body.data?.publishSchema.errors ?? [])];
  if (problems.length) throw new Error(`publishing to the registry failed: ${problems.map((p) => p.message).join('; ')}`);
}

/**
 * An infrastructure server started by @shopgraph/infra (found by its pid file), made killable and
 * startable again on the same ports: `restart` gets `launch`, which runs the first process's
 * command line again as it was (its argv, environment, working directory and user, read from
 * /proc), and answers its stop.
 */
function relaunchable(pidFile: string, restart: (launch: (logFile: string) => Promise<() => Promise<void>>) => Promise<void>): StackProcess {
  const pidIn = () => Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
  const first = pidIn();
  const proc = (file: string) => readFileSync(`/proc/${first}/${file}`, 'utf8');
  const argv = proc('cmdline').split('\0').filter(Boolean);
  const env = Object.fromEntries(proc('environ').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const cwd = readlinkSync(`/proc/${first}/cwd`);
  const [uid, gid] = [/^Uid:\s+(\d+)/m, /^Gid:\s+(\d+)/m].map((field) => Number(field.exec(proc('status'))?.[1]));
  let pid: number | undefined = first;
  const launch = async (logFile: string) => {
    // Elasticsearch refuses to run as root: it runs as the user it ran as, like the first time.
    const asUser = uid !== process.getuid?.() ? ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--'] : [];
    const setpriv = asUser.length ? findBinary('setpriv') : undefined;
    if (asUser.length && !setpriv) throw new Error('setpriv not found: cannot start the server as its user again');
    // Elasticsearch's launcher wants its temporary folder, which its shutdown may have removed.
    if (env['ES_TMPDIR'] && !existsSync(env['ES_TMPDIR'])) {
      mkdirSync(env['ES_TMPDIR'], { recursive: true });
      chownSync(env['ES_TMPDIR'], uid!, gid!);
    }
    const child = await spawnManaged(setpriv ?? argv[0]!, setpriv ? [...asUser, ...argv] : argv.slice(1), { logFile, pidFile, cwd, env });
    return async () => {
      await child.stop(30_000);
    };
  };
  return {
    get pid() {
      return pid !== undefined && isAlive(pid) ? pid : undefined;
    },
    isRunning: () => pid !== undefined && isAlive(pid),
    async kill(signal = 'SIGKILL') {
      if (pid === undefined) return;
      // Elasticsearch's launcher has the server JVM as a child, which must be gone too (it holds the ports and the data lock).
      const family = [pid, ...descendantsOf(pid)];
      for (const member of family) if (isAlive(member)) process.kill(member, signal);
      for (const deadline = Date.now() + 60_000; family.some(isAlive) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
      if (family.some(isAlive)) throw new Error(`pid ${family.filter(isAlive).join(', ')} still alive 60 s after ${signal}`);
      pid = undefined;
    },
    async start() {
      if (pid !== undefined && isAlive(pid)) throw new Error(`pid ${pid} (${pidFile}) is running`);
      await restart(launch);
      pid = pidIn();
    },
  };
}

/** The pids of a process's children, grandchildren… (Linux /proc). */
function descendantsOf(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendantsOf(child)]);
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
