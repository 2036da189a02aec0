import { composeServices } from '@apollo/composition';
import { createLogger, type Logger, type Service } from '@shopgraph/kit';
import { createTestDatabase, elasticsearchEnv, kafkaEnv, mailEnv, redisEnv } from '@shopgraph/testkit';
import { parse } from 'graphql';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRouterApp } from '../router/src/app.ts';
import { loadRouterConfig } from '../router/src/config.ts';
import { ROUTER_NODE_FLAGS } from '../router/src/node-flags.ts';
import { envName } from '../router/src/supergraph.ts';
import { readSupergraphConfig } from '../scripts/compose.ts';
import { createAccountsApp } from '../subgraphs/accounts/src/app.ts';
import { loadAccountsConfig } from '../subgraphs/accounts/src/config.ts';
import { createCartApp } from '../subgraphs/cart/src/app.ts';
import { loadCartConfig } from '../subgraphs/cart/src/config.ts';
import { createCatalogApp } from '../subgraphs/catalog/src/app.ts';
import { loadCatalogConfig } from '../subgraphs/catalog/src/config.ts';
import { createInventoryApp } from '../subgraphs/inventory/src/app.ts';
import { loadInventoryConfig } from '../subgraphs/inventory/src/config.ts';
import { createNotificationsApp } from '../subgraphs/notifications/src/app.ts';
import { loadNotificationsConfig } from '../subgraphs/notifications/src/config.ts';
import { createOrdersApp } from '../subgraphs/orders/src/app.ts';
import { loadOrdersConfig } from '../subgraphs/orders/src/config.ts';
import { createPaymentsApp } from '../subgraphs/payments/src/app.ts';
import { loadPaymentsConfig } from '../subgraphs/payments/src/config.ts';
import { createPromotionsApp } from '../subgraphs/promotions/src/app.ts';
import { loadPromotionsConfig } from '../subgraphs/promotions/src/config.ts';
import { createReviewsApp } from '../subgraphs/reviews/src/app.ts';
import { loadReviewsConfig } from '../subgraphs/reviews/src/config.ts';
import { createSearchApp } from '../subgraphs/search/src/app.ts';
import { loadSearchConfig } from '../subgraphs/search/src/config.ts';
import { createShippingApp } from '../subgraphs/shipping/src/app.ts';
import { loadShippingConfig } from '../subgraphs/shipping/src/config.ts';

export const STAFF = { email: 'staff@e2e.test', password: 'staff-e2e-password', name: 'E2E Staff' };
export const ISSUER = 'http://accounts.e2e.test';

type Start = (env: Record<string, string>, logger: Logger) => Promise<Service>;

/** `SUBGRAPH_<NAME>_URL` variables for subgraph URLs by name, as the router, cart and orders read them. */
const subgraphUrlEnv = (urls: Record<string, string>) => Object.fromEntries(Object.entries(urls).map(([name, url]) => [`SUBGRAPH_${envName(name)}_URL`, url]));

// How to start each subgraph of supergraph.yaml from its env, as its entrypoint would.
const subgraphs: Record<string, Start> = {
  accounts: (env, logger) => createAccountsApp({ config: loadAccountsConfig(env), logger }),
  catalog: (env, logger) => createCatalogApp({ config: loadCatalogConfig(env), logger }),
  inventory: (env, logger) => createInventoryApp({ config: loadInventoryConfig(env), logger }),
  cart: (env, logger) => createCartApp({ config: loadCartConfig(env), logger }),
  orders: (env, logger) => createOrdersApp({ config: loadOrdersConfig(env), logger }),
  payments: (env, logger) => createPaymentsApp({ config: loadPaymentsConfig(env), logger }),
  shipping: (env, logger) => createShippingApp({ config: loadShippingConfig(env), logger }),
  search: (env, logger) => createSearchApp({ config: loadSearchConfig(env), logger }),
  notifications: (env, logger) => createNotificationsApp({ config: loadNotificationsConfig({ ...mailEnv(), ...env }), logger }),
  reviews: (env, logger) => createReviewsApp({ config: loadReviewsConfig(env), logger }),
  promotions: (env, logger) => createPromotionsApp({ config: loadPromotionsConfig(env), logger }),
};

/** A service started beside the supergraph's own (a replica, another router). */
export interface ExtraInstance {
  /** Its GraphQL URL (http). */
  url: string;
  close(): Promise<void>;
}

/** A router in a child process of its own, to be killed (SIGKILL) as a crash would. */
export interface RouterProcess extends ExtraInstance {
  /** SIGKILL: its sockets drop without a close frame; resolves once it has exited. */
  kill(): Promise<void>;
  /** What it printed (for failure messages). */
  output(): string;
}

export interface RouterOptions {
  /** Routing URL overrides by subgraph name (e.g. `{ orders: replica.url }`). */
  subgraphUrls?: Record<string, string>;
}

export interface RunningSupergraph {
  routerUrl: string;
  subgraphUrls: Record<string, string>;
  /** Each subgraph's database, for tests that need to look behind the API. */
  databaseUrls: Record<string, string>;
  /** Stops one subgraph, as a crash or an outage would. */
  stop(name: string): Promise<void>;
  /** Starts a stopped subgraph again on its database and topics (on a new port: for saga work, not queries). */
  restart(name: string): Promise<void>;
  /** The composed supergraph the routers serve. */
  supergraphSdl: string;
  /** Starts another instance of a subgraph on the same database and Kafka topics (a replica); closed with the supergraph. */
  startReplica(name: string): Promise<ExtraInstance>;
  /** Starts another router in this process over the same supergraph; closed with the supergraph. */
  startRouter(options?: RouterOptions): Promise<ExtraInstance>;
  /** Starts another router as a child process (`node router/src/index.ts`); killed with the supergraph. */
  spawnRouter(options?: RouterOptions): Promise<RouterProcess>;
  close(): Promise<void>;
}

/**
 * The whole supergraph in this process, wired as production wires it: each subgraph on its own
 * fresh database, a free port and this test file's Kafka topics; tokens from accounts verified
 * against its JWKS over HTTP; supergraph.yaml's schemas composed with the URLs they really got;
 * then the router.
 */
export async function startSupergraph(env: Record<string, string> = {}): Promise<RunningSupergraph> {
  const services = new Map<string, Service>();
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {});
  };
  try {
    const logger = (name: string) => createLogger(name, process.env.E2E_LOG_LEVEL ?? 'silent');
    const base: Record<string, string> = {
      PORT: '0', NODE_ENV: 'test', JWT_ISSUER: ISSUER,
      ...kafkaEnv(), ...redisEnv(), ...elasticsearchEnv(),
      STAFF_EMAIL: STAFF.email, STAFF_PASSWORD: STAFF.password, STAFF_NAME: STAFF.name,
      ...env,
    };
    const databaseUrls: Record<string, string> = {};
    const subgraphUrls: Record<string, string> = {};
    // Each subgraph learns where those started before it are (cart checks products with catalog and
    // inventory, orders reads checkouts from cart, catalog and payments).
    const envOf = (name: string) => ({ ...subgraphUrlEnv(subgraphUrls), ...base, DATABASE_URL: databaseUrls[name]! });
    const run = async (name: string) => {
      const service = await subgraphs[name]!(envOf(name), logger(name));
      services.set(name, service);
      closers.push(() => service.close());
      return `${await service.listen(0)}/graphql`;
    };
    const start = async (name: string) => {
      const db = await createTestDatabase(`e2e_${name}`);
      closers.push(db.drop);
      databaseUrls[name] = db.url;
      subgraphUrls[name] = await run(name);
    };

    const names = readSupergraphConfig().map((s) => s.name);
    // Accounts first: the others verify tokens with the keys it serves.
    await start('accounts');
    const jwks = { JWT_JWKS_URL: new URL('/.well-known/jwks.json', subgraphUrls['accounts']).href };
    Object.assign(base, jwks);
    // Then each after the subgraphs it calls, at the URLs they got: cart after catalog and
    // inventory, orders (which calls cart) last.
    const callers = ['cart', 'orders'];
    await Promise.all(names.filter((n) => n !== 'accounts' && !callers.includes(n)).map((n) => start(n)));
    for (const caller of callers) await start(caller);

    const composed = composeServices(readSupergraphConfig().map(({ name, schemaPath }) => ({ name, url: subgraphUrls[name]!, typeDefs: parse(readFileSync(schemaPath, 'utf8')) })));
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
    const supergraphSdl = composed.supergraphSdl;
    const router = await createRouterApp({ config: loadRouterConfig({ ...base, PORT: '0' }), logger: logger('router'), supergraphSdl });
    closers.push(() => router.close());
    // A port of its own choosing when it listens: one picked before the subgraphs started could be taken meanwhile.
    const routerUrl = `${await router.listen(0)}/graphql`;
    let extraRouters = 0;
    return {
      routerUrl,
      subgraphUrls,
      databaseUrls,
      stop: async (name) => {
        await services.get(name)?.close();
      },
      restart: async (name) => {
        await run(name);
      },
      supergraphSdl,
      async startReplica(name) {
        const service = await subgraphs[name]!(envOf(name), logger(`${name}-replica`));
        let closed: Promise<void> | undefined;
        const closeReplica = () => (closed ??= service.close());
        closers.push(closeReplica);
        return { url: `${await service.listen(0)}/graphql`, close: closeReplica };
      },
      async startRouter({ subgraphUrls: overrides = {} } = {}) {
        const app = await createRouterApp({ config: loadRouterConfig({ ...base, PORT: '0' }), logger: logger(`router-${++extraRouters}`), supergraphSdl, subgraphUrls: overrides });
        let closed: Promise<void> | undefined;
        const closeRouter = () => (closed ??= app.close());
        closers.push(closeRouter);
        return { url: `${await app.listen(0)}/graphql`, close: closeRouter };
      },
      async spawnRouter({ subgraphUrls: overrides = {} } = {}) {
        const router = await spawnRouterProcess(supergraphSdl, base, overrides);
        closers.push(() => router.kill());
        return router;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * `node router/src/index.ts` with this process's Node, the given supergraph (written to a temp
 * file), the supergraph's env and `SUBGRAPH_<NAME>_URL` overrides, on a port it picks as it listens
 * (read from its "router listening" line: one picked here could be taken before it binds); resolves
 * once it answers /healthz.
 */
async function spawnRouterProcess(supergraphSdl: string, env: Record<string, string>, overrides: Record<string, string>): Promise<RouterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-router-'));
  const supergraphPath = join(dir, 'supergraph.graphql');
  writeFileSync(supergraphPath, supergraphSdl);
  const routerEnv: Record<string, string> = {
    ...env,
    ...subgraphUrlEnv(overrides),
    // info: the level of its "router listening" line, the one way to learn its port.
    PORT: '0', HOST: '127.0.0.1', SUPERGRAPH_PATH: supergraphPath, LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'info',
  };
  const child = spawn(process.execPath, [...ROUTER_NODE_FLAGS, join(import.meta.dirname, '../router/src/index.ts')], { env: { ...process.env, ...routerEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    gone = true;
    rmSync(dir, { recursive: true, force: true });
    resolve();
  }));
  const kill = async () => {
    if (!gone) child.kill('SIGKILL');
    await exited;
  };
  let url: string | undefined;
  for (const deadline = Date.now() + 30_000; ;) {
    if (gone) throw new Error(`the router process exited before it was ready:\n${output}`);
    url ??= listeningUrl(output);
    const healthy = url !== undefined && (await fetch(new URL('/healthz', url), { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false));
    if (healthy) break;
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`the router process did not answer /healthz within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url: `${url!}/graphql`, kill, close: kill, output: () => output };
}

/** The URL in a router's "router listening" log line (pino's JSON lines), once it has logged it. */
function listeningUrl(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('"router listening"')) continue;
    const { url } = JSON.parse(line) as { url?: string };
    if (url) return url;
  }
  return undefined;
}
