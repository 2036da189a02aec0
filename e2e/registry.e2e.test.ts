import { errorCodes, graphql, type ServiceUnderTest } from '@shopgraph/testkit';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH, registryCall, startRegistry, tokens } from '../registry/test/support.ts';
import { createRouterApp, type RouterApp } from '../router/src/app.ts';
import { loadRouterConfig } from '../router/src/config.ts';
import { readSupergraphConfig } from '../scripts/compose.ts';
import { createLogger } from '@shopgraph/kit';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder, staffToken, until, watchOrder } from './support.ts';
import { ISSUER, startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The router following the schema registry: started with REGISTRY_URL on the variant's supergraph,
// it takes a newly published one while serving load (HTTP queries and a live graphql-ws
// subscription) without failing a request or dropping the subscription, and goes on serving when
// the registry is gone.

const CATEGORY_WITH_SLUG = 'type Category @key(fields: "id") {\n  id: ID!\n  name: String!\n  slug: String!\n}';

let graph: RunningSupergraph;
let registry: ServiceUnderTest;
let router: RouterApp;
let routerUrl: string;
let registryClosed = false;

/** Every subgraph at the URL it got; catalog's `Category.slug` left out unless `withSlug`. */
function subgraphs(withSlug: boolean) {
  return readSupergraphConfig().map(({ name, schemaPath }) => {
    const sdl = readFileSync(schemaPath, 'utf8');
    if (name === 'catalog') expect(sdl).toContain(CATEGORY_WITH_SLUG);
    return { name, url: graph.subgraphUrls[name]!, sdl: name === 'catalog' && !withSlug ? sdl.replace(CATEGORY_WITH_SLUG, CATEGORY_WITH_SLUG.replace('\n  slug: String!', '')) : sdl };
  });
}

async function publish(withSlug: boolean): Promise<string> {
  const { data, errors } = await registryCall(registry, PUBLISH, { input: { variant: 'e2e', subgraphs: subgraphs(withSlug), author: 'e2e' } });
  expect(errors).toBeUndefined();
  expect(data!['publishSchema'].errors).toEqual([]);
  return data!['publishSchema'].version.supergraphId;
}

beforeAll(async () => {
  graph = await startSupergraph();
  registry = await startRegistry();
  await publish(false);
  const config = loadRouterConfig({
    PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_ISSUER: ISSUER, JWT_JWKS_URL: new URL('/.well-known/jwks.json', graph.subgraphUrls['accounts']).href,
    REGISTRY_URL: registry.url, REGISTRY_TOKEN: tokens.router, REGISTRY_VARIANT: 'e2e', REGISTRY_POLL_MS: '200',
  });
  router = await createRouterApp({ config, logger: createLogger('router-registry', process.env.E2E_LOG_LEVEL ?? 'silent') });
  routerUrl = `${await router.listen(0)}/graphql`;
});

afterAll(async () => {
  await router?.close();
  if (!registryClosed) await registry?.close();
  await graph?.close();
});

describe('router following the registry', () => {
  it('takes a newly published supergraph under load: no failed request, the live subscription kept, the new field queryable', async () => {
    const staff = await staffToken(graph);
    const kettle = await createProduct(graph, staff, { sku: 'REGISTRY-KETTLE', name: 'Kettle', price: 2_500, stock: 100 });
    const customer = await (await accountsSigner(graph)).customer();
    expect(errorCodes(await graphql(routerUrl, operation('Categories')))).toEqual(['GRAPHQL_VALIDATION_FAILED']);

    // A live order subscription through this router, past its checkout.
    const orderId = await placeOrder(routerUrl, customer, kettle);
    const watch = await watchOrder(routerUrl, customer, orderId);
    try {
      await until('the order is confirmed', async () => (await watch.next()).status === 'CONFIRMED');

      // Load: anonymous catalog queries and signed-in cart reads, without a pause.
      let stop = false;
      const outcomes = { ok: 0, failed: [] as unknown[] };
      const worker = async (query: string, token?: string) => {
        while (!stop) {
          const response = await graphql(routerUrl, query, {}, token).catch((error: unknown) => ({ status: 0, errors: [String(error)] }));
          if (response.status === 200 && !response.errors) outcomes.ok++;
          else outcomes.failed.push(response);
        }
      };
      const workers = [
        ...Array.from({ length: 4 }, () => worker('{ categories { id name } products(first: 5) { edges { node { id name price { amount currency } } } } }')),
        ...Array.from({ length: 2 }, () => worker('{ cart { id subtotal { amount } } me { id } }', customer)),
      ];
      await until('load runs', async () => outcomes.ok >= 20);

      const published = await publish(true);
      await until('the new supergraph is served', async () => router.supergraphId() === published);
      const answeredBefore = outcomes.ok;
      await until('load runs on the new supergraph', async () => outcomes.ok >= answeredBefore + 20);
      stop = true;
      await Promise.all(workers);
      expect(outcomes.failed).toEqual([]);

      expect((await graphql(routerUrl, operation('Categories'))).errors).toBeUndefined();
      // The subscription still delivers: the shipment's status change comes on it.
      const shipped = await graphql(routerUrl, operation('MarkShipped'), { input: { orderId } }, staff);
      expect(shipped.data?.['markShipped'].errors).toEqual([]);
      await until('the shipment reaches the subscription', async () => (await watch.next()).status === 'SHIPPED');
    } finally {
      await watch.close();
    }
  });

  it('keeps serving when the registry is gone', async () => {
    const served = router.supergraphId();
    await registry.close();
    registryClosed = true;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await graphql(routerUrl, operation('Categories'))).errors).toBeUndefined();
    const ready = await fetch(new URL('/readyz', routerUrl));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', supergraph: { id: served } });
  });
});
