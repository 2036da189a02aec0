import { composeServices } from '@apollo/composition';
import { freePort } from '@shopgraph/infra';
import { createLogger, type Logger, type Service } from '@shopgraph/kit';
import { createTestDatabase, kafkaBrokers, testTopicPrefix } from '@shopgraph/testkit';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { createRouterApp } from '../router/src/app.ts';
import { loadRouterConfig } from '../router/src/config.ts';
import { readSupergraphConfig } from '../scripts/compose.ts';
import { createAccountsApp } from '../subgraphs/accounts/src/app.ts';
import { loadAccountsConfig } from '../subgraphs/accounts/src/config.ts';
import { createCartApp } from '../subgraphs/cart/src/app.ts';
import { loadCartConfig } from '../subgraphs/cart/src/config.ts';
import { createCatalogApp } from '../subgraphs/catalog/src/app.ts';
import { loadCatalogConfig } from '../subgraphs/catalog/src/config.ts';
import { createInventoryApp } from '../subgraphs/inventory/src/app.ts';
import { loadInventoryConfig } from '../subgraphs/inventory/src/config.ts';
import { createOrdersApp } from '../subgraphs/orders/src/app.ts';
import { loadOrdersConfig } from '../subgraphs/orders/src/config.ts';
import { createPaymentsApp } from '../subgraphs/payments/src/app.ts';
import { loadPaymentsConfig } from '../subgraphs/payments/src/config.ts';
import { createShippingApp } from '../subgraphs/shipping/src/app.ts';
import { loadShippingConfig } from '../subgraphs/shipping/src/config.ts';

export const STAFF = { email: 'staff@e2e.test', password: 'staff-e2e-password', name: 'E2E Staff' };
export const ISSUER = 'http://accounts.e2e.test';

type Start = (env: Record<string, string>, logger: Logger) => Promise<Service>;

// How to start each subgraph of supergraph.yaml from its env, as its entrypoint would.
const subgraphs: Record<string, Start> = {
  accounts: (env, logger) => createAccountsApp({ config: loadAccountsConfig(env), logger }),
  catalog: (env, logger) => createCatalogApp({ config: loadCatalogConfig(env), logger }),
  inventory: (env, logger) => createInventoryApp({ config: loadInventoryConfig(env), logger }),
  cart: (env, logger) => createCartApp({ config: loadCartConfig(env), logger }),
  orders: (env, logger) => createOrdersApp({ config: loadOrdersConfig(env), logger }),
  payments: (env, logger) => createPaymentsApp({ config: loadPaymentsConfig(env), logger }),
  shipping: (env, logger) => createShippingApp({ config: loadShippingConfig(env), logger }),
};

export interface RunningSupergraph {
  routerUrl: string;
  subgraphUrls: Record<string, string>;
  /** Each subgraph's database, for tests that need to look behind the API. */
  databaseUrls: Record<string, string>;
  /** Stops one subgraph, as a crash or an outage would. */
  stop(name: string): Promise<void>;
  /** Starts a stopped subgraph again on its database and topics (on a new port: for saga work, not queries). */
  restart(name: string): Promise<void>;
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
    const routerPort = await freePort();
    const routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
    const logger = (name: string) => createLogger(name, process.env.E2E_LOG_LEVEL ?? 'silent');
    const base: Record<string, string> = {
      PORT: '0', NODE_ENV: 'test', JWT_ISSUER: ISSUER, GRAPH_URL: routerUrl,
      KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PREFIX: testTopicPrefix,
      STAFF_EMAIL: STAFF.email, STAFF_PASSWORD: STAFF.password, STAFF_NAME: STAFF.name,
      ...env,
    };
    const databaseUrls: Record<string, string> = {};
    const subgraphUrls: Record<string, string> = {};
    const run = async (name: string) => {
      const service = await subgraphs[name]!({ ...base, DATABASE_URL: databaseUrls[name]! }, logger(name));
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
    await Promise.all(names.filter((n) => n !== 'accounts').map((n) => start(n)));

    const composed = composeServices(readSupergraphConfig().map(({ name, schemaPath }) => ({ name, url: subgraphUrls[name]!, typeDefs: parse(readFileSync(schemaPath, 'utf8')) })));
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
    const router = await createRouterApp({ config: loadRouterConfig({ ...base, PORT: String(routerPort) }), logger: logger('router'), supergraphSdl: composed.supergraphSdl });
    closers.push(() => router.close());
    await router.listen(routerPort);
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
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
