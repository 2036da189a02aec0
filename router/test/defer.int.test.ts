// @defer through the router over HTTP: incremental delivery over multipart/mixed;deferSpec=20220824
// (as Apollo Client speaks it, checked with the real client), the same answer whole to clients
// that do not take it (JSON, SSE), and refused on subscriptions.
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, until, type World } from './harness.ts';

let world: World;
let url: string;

beforeAll(async () => {
  world = await startWorld();
  ({ url } = await world.router());
});

afterAll(async () => {
  await world?.close();
});

const DEFER_ACCEPT = 'multipart/mixed;deferSpec=20220824, application/json';
/** Stock (the inventory subgraph) deferred; name and price (products) in the first payload. */
const DEFERRED = 'query Shelf { products { id name ... @defer(label: "stock") { stock } price } }';
const WHOLE = 'query Shelf { products { id name stock price } }';

interface Payload {
  data?: Record<string, any>;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  incremental?: Array<{ data: Record<string, any> | null; path: Array<string | number>; label?: string }>;
  hasNext: boolean;
}

const post = (body: object, accept: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept, ...headers }, body: JSON.stringify(body) });

/** The JSON parts of a whole multipart body (which must end with the closing boundary). */
function partsOf(body: string): Payload[] {
  expect(body.endsWith('\r\n--graphql--\r\n')).toBe(true);
  const parts = body.split('\r\n--graphql').slice(1, -1);
  return parts.map((part) => JSON.parse(part.slice(part.indexOf('\r\n\r\n'))) as Payload);
}

/** Reads a multipart response part by part, as a client does: a part is whole when the next boundary arrives. */
function partReader(response: Response): () => Promise<Payload | undefined> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let seenFirst = false;
  return async () => {
    for (;;) {
      const boundary = buffer.indexOf('\r\n--graphql');
      if (boundary >= 0) {
        const part = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + '\r\n--graphql'.length);
        if (!seenFirst) {
          seenFirst = true;
          continue; // the preamble before the first boundary
        }
        return JSON.parse(part.slice(part.indexOf('\r\n\r\n'))) as Payload;
      }
      if (buffer.startsWith('--')) return undefined;
      const { value, done } = await reader.read();
      if (done) throw new Error(`multipart body ended without its closing boundary: ${JSON.stringify(buffer)}`);
      buffer += decoder.decode(value, { stream: true });
    }
  };
}

/** An HTTP proxy to a subgraph that holds each request until `release()`: a subgraph as slow as a test wants. */
async function heldProxy(target: string): Promise<{ url: string; held: () => number; release(): void; close(): Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', async () => {
      held++;
      await gate;
      const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(await upstream.text());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    held: () => held,
    release,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('router @defer: incremental delivery over multipart/mixed;deferSpec=20220824', () => {
  it('sends the deferred fragment in a later part than the rest, and closes the stream', async () => {
    const response = await post({ query: DEFERRED }, DEFER_ACCEPT);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";deferSpec=20220824');
    const parts = partsOf(await response.text());

    expect(parts.length).toBeGreaterThanOrEqual(2);
    const [first, ...rest] = parts as [Payload, ...Payload[]];
    expect(first).toEqual({ data: { products: [{ id: 'p1', name: 'Kettle', price: expect.any(Number) }, { id: 'p2', name: 'Mug', price: expect.any(Number) }] }, hasNext: true });
    for (const product of first.data!['products']) expect(product).not.toHaveProperty('stock');
    expect(rest.flatMap((part) => part.incremental ?? [])).toEqual([
      { data: { stock: 7 }, path: ['products', 0], label: 'stock' },
      { data: { stock: 0 }, path: ['products', 1], label: 'stock' },
    ]);
    expect(parts.map((part) => part.hasNext)).toEqual([...rest.map(() => true), false]);
  });

  it('sends the first part while the deferred fetch is still under way', async () => {
    const inventory = await heldProxy(world.subgraphs.inventory.url);
    try {
      const router = await world.router({}, { subgraphUrls: { inventory: inventory.url } });
      const response = await fetch(router.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: DEFER_ACCEPT }, body: JSON.stringify({ query: DEFERRED }) });
      const next = partReader(response);

      const first = await next();
      expect(first?.hasNext).toBe(true);
      expect(first?.data?.['products'].map((p: Record<string, unknown>) => Object.keys(p))).toEqual([['id', 'name', 'price'], ['id', 'name', 'price']]);
      // The first part came while inventory has not answered: the stock fetch is held until released.
      await until(() => inventory.held() === 1, 'the stock fetch reaches inventory');

      inventory.release();
      expect(await next()).toEqual({ incremental: [{ data: { stock: 7 }, path: ['products', 0], label: 'stock' }, { data: { stock: 0 }, path: ['products', 1], label: 'stock' }], hasNext: false });
      expect(await next()).toBeUndefined();
    } finally {
      inventory.release();
      await inventory.close();
    }
  });

  it("gives Apollo Client (Defer20220824Handler) the same final result as the query without @defer", async () => {
    const contentTypes: string[] = [];
    const client = new ApolloClient({
      link: new HttpLink({
        uri: url,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          contentTypes.push(response.headers.get('content-type') ?? '');
          return response;
        },
      }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
    });
    try {
      const deferred = await client.query({ query: gql(DEFERRED), fetchPolicy: 'no-cache' });
      const whole = await client.query({ query: gql(WHOLE), fetchPolicy: 'no-cache' });
      expect(contentTypes).toEqual(['multipart/mixed;boundary="graphql";deferSpec=20220824', expect.stringMatching(/^application\/(graphql-response\+)?json/)]);
      expect(deferred.error).toBeUndefined();
      expect(deferred.data).toEqual(whole.data);
      expect(whole.data).toEqual({
        products: [
          { __typename: 'Product', id: 'p1', name: 'Kettle', stock: 7, price: expect.any(Number) },
          { __typename: 'Product', id: 'p2', name: 'Mug', stock: 0, price: expect.any(Number) },
        ],
      });

      // Through the cache too: the deferred fields are written into the entities as they come.
      const cached = await client.query({ query: gql(DEFERRED), fetchPolicy: 'network-only' });
      expect(cached.data).toEqual(whole.data);
    } finally {
      client.stop();
    }
  });
});

describe('router @defer: answered whole where incremental delivery is not taken', () => {
  const whole = async () => ((await (await post({ query: WHOLE }, 'application/json')).json()) as Payload).data;

  it('over JSON: the same answer as without @defer', async () => {
    const response = await post({ query: DEFERRED }, 'application/graphql-response+json, application/json');
    expect(response.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);
    const body = (await response.json()) as Payload;
    expect(body).toEqual({ data: await whole() });
    expect(Object.keys(body.data!['products'][0])).toEqual(['id', 'name', 'stock', 'price']);
  });

  it('over SSE: one `next` event with the whole answer', async () => {
    const response = await post({ query: DEFERRED }, 'text/event-stream');
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await response.text()).split('\n\n').filter((event) => event.startsWith('event:'));
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[0]!.split('\ndata: ')[1]!)).toEqual({ data: await whole() });
    expect(events[1]).toBe('event: complete\ndata:');
  });

  it('a mutation: @defer is ignored, the answer comes whole', async () => {
    const staff = await world.issuer.staff();
    const response = await post({ query: 'mutation { setPrice(id: "p2", amount: 900) { id ... @defer { name price } } }' }, DEFER_ACCEPT, { authorization: `Bearer ${staff}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ data: { setPrice: { id: 'p2', name: 'Mug', price: 900 } } });
  });

  it('a query without @defer from a client that also takes multipart: plain JSON', async () => {
    const response = await post({ query: WHOLE }, DEFER_ACCEPT);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await response.json()) as Payload).data).toEqual(await whole());
  });

  it('@defer(if: false): no incremental delivery', async () => {
    const response = await post({ query: 'query { products { id ... @defer(if: false) { stock } } }' }, DEFER_ACCEPT);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ data: { products: [{ id: 'p1', stock: 7 }, { id: 'p2', stock: 0 }] } });
  });
});

describe('router @defer on subscriptions', () => {
  it('is refused: 400 BAD_REQUEST, before anything runs', async () => {
    const token = await world.issuer.customer();
    const requests = world.subgraphRequests();
    const response = await post({ query: 'subscription { tick { n ... @defer { item { name } } } }' }, 'multipart/mixed;subscriptionSpec=1.0, application/json', { authorization: `Bearer ${token}` });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Payload;
    expect(body.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_REQUEST']);
    expect(body.errors?.[0]?.message).toMatch(/@defer is not supported on subscriptions/);
    expect(world.subgraphRequests()).toBe(requests);
  });
});
