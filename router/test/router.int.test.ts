import { createHash } from 'node:crypto';
import { errorCodes, graphql } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraph, startWorld, type World } from './harness.ts';

let world: World;
let url: string;
let base: string;

beforeAll(async () => {
  world = await startWorld();
  ({ url, base } = await world.router());
});

afterAll(async () => {
  await world?.close();
});

describe('router: federation', () => {
  it('answers a query across two subgraphs anonymously for public fields', async () => {
    const response = await graphql(url, '{ products { id name price stock } }');
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      products: [
        { id: 'p1', name: 'Kettle', price: expect.any(Number), stock: 7 },
        { id: 'p2', name: 'Mug', price: expect.any(Number), stock: 0 },
      ],
    });
  });

  it('forwards the verified Authorization header, unchanged, to every subgraph it calls, and no other client header', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const { products, inventory, accounts } = world.subgraphs;
    const seen = [products, inventory, accounts].map((s) => s.recorder.requests.length);

    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-user-id': 'someone-else', 'x-user-scopes': 'staff', cookie: 'session=abc' },
      body: JSON.stringify({ query: '{ whoami products { name stock } }' }),
    });
    const body = (await response.json()) as { data: { whoami: string } };
    expect(response.status).toBe(200);
    // The accounts subgraph re-verified the token itself and found the same user.
    expect(body.data.whoami).toBe(userId);

    const fresh = [products, inventory, accounts].flatMap((s, i) => s.recorder.requests.slice(seen[i]));
    expect(fresh.length).toBe(3);
    for (const request of fresh) {
      expect(request.headers.authorization).toBe(`Bearer ${token}`);
      expect(request.identity?.userId).toBe(userId);
      expect(request.headers['x-user-id']).toBeUndefined();
      expect(request.headers['x-user-scopes']).toBeUndefined();
      expect(request.headers.cookie).toBeUndefined();
    }
  });

  it('sends no Authorization header for an anonymous caller', async () => {
    const before = world.subgraphs.products.recorder.requests.length;
    expect((await graphql(url, '{ products { id } }')).errors).toBeUndefined();
    const [request] = world.subgraphs.products.recorder.requests.slice(before);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.identity).toBeNull();
  });

  it('keeps connections to subgraphs alive across requests', async () => {
    const recorder = world.subgraphs.products.recorder;
    await graphql(url, '{ products { id } }');
    const connections = recorder.connections;
    for (let i = 0; i < 20; i++) expect((await graphql(url, `{ products { id } }`)).errors).toBeUndefined();
    expect(recorder.connections - connections).toBeLessThanOrEqual(1);
  });
});

describe('router: introspection', () => {
  const INTROSPECT = '{ __schema { queryType { name } } }';

  it('is allowed outside production', async () => {
    const response = await graphql(url, INTROSPECT);
    expect(response.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('is refused in production', async () => {
    const production = await world.router({ NODE_ENV: 'production' });
    const response = await graphql(production.url, INTROSPECT);
    expect(response.status).toBe(400);
    expect(errorCodes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.errors![0]!.message).toMatch(/introspection/i);
    // The API itself still works there.
    expect((await graphql(production.url, '{ products { id } }')).errors).toBeUndefined();
  });
});

describe('router: health', () => {
  it('answers /healthz', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
  });

  it('answers /readyz (with the id of the supergraph it serves) and /readyz/subgraphs 200 when every subgraph is ready', async () => {
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', supergraph: { id: createHash('sha256').update(world.supergraphSdl).digest('hex') } });
    const subgraphs = await fetch(`${base}/readyz/subgraphs`);
    expect(subgraphs.status).toBe(200);
    expect(await subgraphs.json()).toEqual({ status: 'ready' });
  });

  it('stays ready with a subgraph down, reports it on /readyz/subgraphs, and caches probe results briefly', async () => {
    // A router whose inventory is an instance of its own (routing URL override), so it can be stopped.
    const inventory = await startSubgraph('inventory', world.issuer);
    const router = await world.router({ SUBGRAPH_READINESS_CACHE_MS: '1000' }, { subgraphUrls: { inventory: inventory.url } });
    expect((await graphql(router.url, '{ products { stock } }')).errors).toBeUndefined();
    expect(inventory.recorder.requests.length).toBe(1);

    const probes = inventory.recorder.readinessProbes;
    const ready = await Promise.all([1, 2, 3, 4, 5].map(() => fetch(`${router.base}/readyz/subgraphs`)));
    expect(ready.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(inventory.recorder.readinessProbes - probes).toBe(1);

    await inventory.service.close();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const down = await fetch(`${router.base}/readyz/subgraphs`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'unavailable', failing: ['inventory'] });
    expect((await fetch(`${router.base}/readyz`)).status).toBe(200);
  });

  it("answers what it could with a subgraph down: the others' data, and an error naming the unreachable one (no 500, no URL)", async () => {
    const inventory = await startSubgraph('inventory', world.issuer);
    const router = await world.router({}, { subgraphUrls: { inventory: inventory.url } });
    await inventory.service.close();
    const response = await graphql(router.url, '{ products { id name stock } }');
    expect(response.status).toBe(200);
    expect(response.data).toBeNull(); // `stock` is non-null all the way up
    expect(response.errors).toEqual([{ message: 'Subgraph "inventory" is unavailable', extensions: { code: 'SUBREQUEST_HTTP_ERROR', serviceName: 'inventory' } }]);
    // What needs only the subgraphs that are up is answered as before.
    const other = await graphql(router.url, '{ products { id name } }');
    expect(other).toMatchObject({ status: 200, data: { products: [{ id: 'p1', name: 'Kettle' }, { id: 'p2', name: 'Mug' }] } });
    await router.app.close();
  });
});
