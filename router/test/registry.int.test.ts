import { errorCodes, graphql, type ServiceUnderTest } from '@shopgraph/testkit';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK, PUBLISH, registryCall, startRegistry, tokens } from '../../registry/test/support.ts';
import { SDL, until, type SubgraphName, type World, startWorld } from './harness.ts';

/**
 * The router against the real registry service (registry/, on a database of its own): it starts on
 * the variant's supergraph, follows what is published, enforces the variant's trusted documents
 * and reports usage the registry's checks then count; a registry that goes away stops nothing.
 */

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const PUSH = 'mutation Push($input: PushClientManifestInput!) { pushClientManifest(input: $input) { operations errors { code message } } }';
const TRUSTED_VARIANT = 'mobile-prod';

let world: World;
let registry: ServiceUnderTest;

const subgraph = (name: SubgraphName) => ({ name, sdl: SDL[name], url: world.subgraphs[name].url });
async function publish(variant: string, names: SubgraphName[]): Promise<string> {
  const { data, errors } = await registryCall(registry, PUBLISH, { input: { variant, subgraphs: names.map(subgraph), author: 'router tests' } });
  expect(errors).toBeUndefined();
  expect(data!['publishSchema'].errors).toEqual([]);
  return data!['publishSchema'].version.supergraphId as string;
}
/** A router following `variant`, polling every 100 ms; no supergraph of its own to fall back on. */
const routerFor = (variant: string, env: Record<string, string> = {}) =>
  world.router({ REGISTRY_URL: registry.url, REGISTRY_TOKEN: tokens.router, REGISTRY_VARIANT: variant, REGISTRY_POLL_MS: '100', REGISTRY_STARTUP_TIMEOUT_MS: '2000', ...env }, { supergraphSdl: undefined });

beforeAll(async () => {
  world = await startWorld();
  registry = await startRegistry({ REGISTRY_TRUSTED_DOCUMENTS_REQUIRED: TRUSTED_VARIANT });
});

afterAll(async () => {
  await world?.close();
  await registry?.close();
});

describe('router with REGISTRY_URL', () => {
  it('refuses to start, saying why, while the variant has no supergraph', async () => {
    await expect(routerFor('empty', { REGISTRY_STARTUP_TIMEOUT_MS: '300' })).rejects.toThrow(/no supergraph from the registry .* for variant "empty" within 300 ms \(variant "empty" has no composed supergraph yet\)/);
  });

  it('serves the variant\'s supergraph and picks up a newly published one without a restart', async () => {
    const first = await publish('follow', ['products', 'inventory', 'ticker']);
    const router = await routerFor('follow');
    expect(router.app.supergraphId()).toBe(first);
    expect(errorCodes(await graphql(router.url, '{ ping }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);

    const second = await publish('follow', ['products', 'inventory', 'ticker', 'accounts']);
    await until(() => router.app.supergraphId() === second, 'the published supergraph is served');
    expect((await graphql(router.url, '{ ping products { stock } }')).data).toEqual({ ping: 'pong', products: [{ stock: 7 }, { stock: 0 }] });
    expect(await (await fetch(`${router.base}/readyz`)).json()).toEqual({ status: 'ready', supergraph: { id: second } });
  });

  it('reports usage per client, which the registry\'s checks then count', async () => {
    await publish('usage', ['products', 'inventory', 'accounts']);
    const router = await routerFor('usage');
    const headers = { 'content-type': 'application/json', 'apollographql-client-name': 'web', 'apollographql-client-version': '1.4' };
    for (let i = 0; i < 3; i++) await fetch(router.url, { method: 'POST', headers, body: JSON.stringify({ query: 'query Ping { ping }' }) });
    await router.app.flushUsage();

    const { data } = await registryCall(registry, CHECK, { input: { variant: 'usage', subgraphs: [{ name: 'accounts', delete: true }] } }, tokens.checker);
    const ping = (data!['schemaCheck'].changes as { coordinate: string; usage: { requests: number; clients: { name: string; version: string; requests: number }[] } }[]).find((c) => c.coordinate === 'Query.ping');
    expect(ping?.usage).toMatchObject({ requests: 3, clients: [{ name: 'web', version: '1.4', requests: 3 }] });
  });

  it('runs registered operations only on a variant that requires them', async () => {
    await publish(TRUSTED_VARIANT, ['products', 'inventory']);
    const registered = 'query Products { products { id name } }';
    const manifest = JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: sha256(registered), name: 'Products', type: 'query', body: registered }] });
    const pushed = await registryCall(registry, PUSH, { input: { variant: TRUSTED_VARIANT, client: 'ios', version: '2.3', manifest } });
    expect(pushed.data!['pushClientManifest']).toEqual({ operations: 1, errors: [] });

    const router = await routerFor(TRUSTED_VARIANT);
    const byId = await fetch(router.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(registered) } } }) });
    expect(await byId.json()).toEqual({ data: { products: [{ id: 'p1', name: 'Kettle' }, { id: 'p2', name: 'Mug' }] } });
    expect((await graphql(router.url, registered)).errors).toBeUndefined();
    expect(errorCodes(await graphql(router.url, '{ products { id } }'))).toEqual(['OPERATION_NOT_TRUSTED']);
  });

  it('keeps serving when the registry goes away', async () => {
    const own = await startRegistry();
    const publishTo = async (names: SubgraphName[]) => {
      const { data } = await registryCall(own, PUBLISH, { input: { variant: 'dev', subgraphs: names.map(subgraph) } });
      return data!['publishSchema'].version.supergraphId as string;
    };
    const first = await publishTo(['products', 'inventory']);
    const router = await world.router({ REGISTRY_URL: own.url, REGISTRY_TOKEN: tokens.router, REGISTRY_POLL_MS: '50' }, { supergraphSdl: undefined });
    expect(router.app.supergraphId()).toBe(first);
    await own.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await graphql(router.url, '{ products { id stock } }')).data).toEqual({ products: [{ id: 'p1', stock: 7 }, { id: 'p2', stock: 0 }] });
    expect((await fetch(`${router.base}/readyz`)).status).toBe(200);
    expect(router.app.supergraphId()).toBe(first);
  });
});
