import { composeServices } from '@apollo/composition';
import { freePort } from '@shopgraph/infra';
import { createLogger, type Service } from '@shopgraph/kit';
import { createTestDatabase } from '@shopgraph/testkit';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { createAccountsApp } from '../subgraphs/accounts/src/app.ts';
import { loadAccountsConfig } from '../subgraphs/accounts/src/config.ts';
import { createCartApp } from '../subgraphs/cart/src/app.ts';
import { loadCartConfig } from '../subgraphs/cart/src/config.ts';
import { createCatalogApp } from '../subgraphs/catalog/src/app.ts';
import { loadCatalogConfig } from '../subgraphs/catalog/src/config.ts';
import { createInventoryApp } from '../subgraphs/inventory/src/app.ts';
import { loadInventoryConfig } from '../subgraphs/inventory/src/config.ts';
import { createRouterApp } from '../router/src/app.ts';
import { loadRouterConfig } from '../router/src/config.ts';
import { readSupergraphConfig } from '../scripts/compose.ts';

export const STAFF = { email: 'staff@e2e.test', password: 'staff-e2e-password', name: 'E2E Staff' };
const ISSUER = 'http://accounts.e2e.test';

export interface RunningSupergraph {
  routerUrl: string;
  subgraphUrls: Record<string, string>;
  /** Each subgraph's database, for tests that need to look behind the API. */
  databaseUrls: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The whole supergraph in this process, as production wires it: each subgraph on its own fresh
 * database and a free port, tokens from accounts verified against its JWKS over HTTP, the
 * schemas of supergraph.yaml composed with the URLs they really got, then the router.
 */
export async function startSupergraph(env: Record<string, string> = {}): Promise<RunningSupergraph> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {});
  };
  try {
    const routerPort = await freePort();
    const routerUrl = `http://127.0.0.1:${routerPort}/graphql`;
    const base = { PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_ISSUER: ISSUER, ...env };
    const logger = (name: string) => createLogger(name, process.env.E2E_LOG_LEVEL ?? 'silent');
    const databaseUrls: Record<string, string> = {};
    const database = async (name: string) => {
      const db = await createTestDatabase(`e2e_${name}`);
      closers.push(db.drop);
      databaseUrls[name] = db.url;
      return db.url;
    };
    const started = async (name: string, service: Service) => {
      closers.push(() => service.close());
      return `${await service.listen(0)}/graphql`;
    };

    const accountsUrl = await started('accounts', await createAccountsApp({
      config: loadAccountsConfig({ ...base, DATABASE_URL: await database('accounts'), STAFF_EMAIL: STAFF.email, STAFF_PASSWORD: STAFF.password, STAFF_NAME: STAFF.name }),
      logger: logger('accounts'),
    }));
    const verifying = { ...base, JWT_JWKS_URL: new URL('/.well-known/jwks.json', accountsUrl).href };
    const [catalogUrl, inventoryUrl, cartUrl] = await Promise.all([
      (async () => started('catalog', await createCatalogApp({ config: loadCatalogConfig({ ...verifying, DATABASE_URL: await database('catalog') }), logger: logger('catalog') })))(),
      (async () => started('inventory', await createInventoryApp({ config: loadInventoryConfig({ ...verifying, DATABASE_URL: await database('inventory') }), logger: logger('inventory') })))(),
      (async () => started('cart', await createCartApp({ config: loadCartConfig({ ...verifying, DATABASE_URL: await database('cart'), GRAPH_URL: routerUrl }), logger: logger('cart') })))(),
    ]);
    const subgraphUrls: Record<string, string> = { accounts: accountsUrl, catalog: catalogUrl!, inventory: inventoryUrl!, cart: cartUrl! };

    const composed = composeServices(readSupergraphConfig().map(({ name, schemaPath }) => ({ name, url: subgraphUrls[name]!, typeDefs: parse(readFileSync(schemaPath, 'utf8')) })));
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
    const router = await createRouterApp({ config: loadRouterConfig({ ...verifying, PORT: String(routerPort) }), logger: logger('router'), supergraphSdl: composed.supergraphSdl });
    closers.push(() => router.close());
    await router.listen(routerPort);
    return { routerUrl, subgraphUrls, databaseUrls, close };
  } catch (error) {
    await close();
    throw error;
  }
}
