import { bearer, connectWs, errorCodes, graphql } from '@shopgraph/testkit';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterApp } from '../src/app.ts';
import { supergraphId, type SupergraphSource, type SupergraphVersion } from '../src/supergraph-source.ts';
import { channel, compose, TICK, ticks, until, type TestSubgraph, type World, startWorld } from './harness.ts';

/** A supergraph source the test publishes to, as the registry would. */
function publishedSupergraphs(initial: string) {
  let onUpdate: ((version: SupergraphVersion) => void) | undefined;
  const source: SupergraphSource = {
    async start(update) {
      onUpdate = update;
      return { id: supergraphId(initial), sdl: initial };
    },
    close() {},
  };
  return { source, publish: (sdl: string) => onUpdate!({ id: supergraphId(sdl), sdl }) };
}

/** A pass-through to a subgraph that holds each request for `delayMs`, counting its open connections. */
async function slowProxy(target: string, delayMs: number): Promise<{ url: string; open: () => number; close: () => Promise<void> }> {
  let open = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body: Buffer.concat(chunks) });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text());
  });
  server.on('connection', (socket) => {
    open++;
    socket.once('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    open: () => open,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let world: World;
/** Supergraphs: without accounts; everything; without inventory (`Product.stock` gone); without ticker (no subscriptions). */
let withoutAccounts: string;
let everything: string;
let withoutInventory: string;
let withoutTicker: string;

beforeAll(async () => {
  world = await startWorld();
  const { products, inventory, accounts, ticker } = world.subgraphs;
  withoutAccounts = compose([products, inventory, ticker]);
  everything = world.supergraphSdl;
  withoutInventory = compose([products, accounts, ticker]);
  withoutTicker = compose([products, inventory, accounts]);
});

afterAll(async () => {
  await world?.close();
});

async function routerOn(initial: string): Promise<{ app: RouterApp; url: string; base: string; publish: (sdl: string) => Promise<void> }> {
  const { source, publish } = publishedSupergraphs(initial);
  const router = await world.router({}, { supergraphSource: source });
  return {
    ...router,
    async publish(sdl) {
      publish(sdl);
      await until(() => router.app.supergraphId() === supergraphId(sdl), 'the new supergraph is served');
    },
  };
}

describe('router: a new supergraph while running', () => {
  it('serves it without a restart, and says which one on /readyz', async () => {
    const router = await routerOn(withoutAccounts);
    expect(errorCodes(await graphql(router.url, '{ ping }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    await router.publish(everything);
    expect(await graphql(router.url, '{ ping products { id } }')).toMatchObject({ status: 200, data: { ping: 'pong', products: [{ id: 'p1' }, { id: 'p2' }] } });
    expect(await (await fetch(`${router.base}/readyz`)).json()).toEqual({ status: 'ready', supergraph: { id: supergraphId(everything) } });
    // And back: a field gone is refused as any unknown field.
    await router.publish(withoutAccounts);
    expect(errorCodes(await graphql(router.url, '{ ping }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('keeps serving the one it has when the new one does not build', async () => {
    const { source, publish } = publishedSupergraphs(everything);
    const { app, url } = await world.router({}, { supergraphSource: source });
    for (const bad of ['not GraphQL {', 'type Query { a: String }', everything.replace('type Query', 'type Query @nonsense')]) {
      publish(bad);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(app.supergraphId()).toBe(supergraphId(everything));
      expect((await graphql(url, '{ ping }')).data).toEqual({ ping: 'pong' });
    }
  });

  it('finishes a request in flight on the supergraph it started on, and then lets go of the connections only that one used', async () => {
    const slowAccounts = await slowProxy(world.subgraphs.accounts.url, 500);
    try {
      const viaProxy = compose([world.subgraphs.products, world.subgraphs.inventory, world.subgraphs.ticker, { ...world.subgraphs.accounts, url: slowAccounts.url } satisfies TestSubgraph]);
      const router = await routerOn(viaProxy);
      const inFlight = graphql(router.url, '{ ping }');
      await until(() => slowAccounts.open() > 0, 'the request reached the subgraph');
      await router.publish(withoutAccounts);
      expect(errorCodes(await graphql(router.url, '{ ping }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(await inFlight).toEqual({ status: 200, data: { ping: 'pong' } });
      // Nothing runs on the old supergraph any more: its subgraph's kept-alive connection is closed.
      await until(() => slowAccounts.open() === 0, 'the removed subgraph\'s connections are closed', 2_000);
    } finally {
      await slowAccounts.close();
    }
  });

  it('fails no request while supergraphs are published under load', async () => {
    const router = await routerOn(everything);
    let stop = false;
    const outcomes = { ok: 0, failed: [] as unknown[] };
    const worker = async () => {
      while (!stop) {
        const response = await graphql(router.url, '{ products { id name stock } }').catch((error: unknown) => ({ status: 0, errors: [String(error)] }));
        if (response.status === 200 && !response.errors) outcomes.ok++;
        else outcomes.failed.push(response);
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    // Answers between one swap and the next: load really runs across each of them.
    const answeredBetween: number[] = [];
    for (const sdl of [withoutAccounts, everything, withoutAccounts, everything, withoutAccounts, everything]) {
      const before = outcomes.ok;
      await until(() => outcomes.ok >= before + 10, 'requests answered');
      await router.publish(sdl);
      answeredBetween.push(outcomes.ok - before);
    }
    stop = true;
    await Promise.all(workers);
    expect(outcomes.failed).toEqual([]);
    expect(answeredBetween.every((n) => n >= 10)).toBe(true);
  });

  it('keeps a live subscription whose operation is still valid, and ends one whose fields disappeared with SUPERGRAPH_CHANGED', async () => {
    const router = await routerOn(withoutAccounts);
    const token = await world.issuer.customer();
    const client = await connectWs(router.url, bearer(token));
    const c = channel();
    // `1` selects a field of inventory, `2` only fields of products and ticker.
    client.subscribe('1', TICK, { channel: c });
    client.subscribe('2', 'subscription($channel: String!) { tick(channel: $channel) { n item { name } } }', { channel: c });
    await until(() => ticks.active(c) === 2, 'subscribed');

    await router.publish(everything);
    ticks.publish(c, 'p1');
    expect(await client.takeFor('1')).toMatchObject({ type: 'next', payload: { data: { tick: { n: 1, channel: c, item: { id: 'p1', name: 'Kettle', price: expect.any(Number), stock: 7 } } } } });
    expect(await client.takeFor('2')).toMatchObject({ type: 'next', payload: { data: { tick: { n: 1, item: { name: 'Kettle' } } } } });

    await router.publish(withoutInventory);
    const ended = await client.takeFor('1');
    expect(ended.type).toBe('error');
    expect(ended.payload).toEqual([{ message: expect.stringMatching(/^The supergraph changed and this subscription's operation is no longer valid on it \(Cannot query field "stock" on type "Product"/), extensions: { code: 'SUPERGRAPH_CHANGED' } }]);
    await until(() => ticks.active(c) === 1, 'its subgraph subscription ended');
    ticks.publish(c, 'p2');
    expect(await client.takeFor('2')).toMatchObject({ type: 'next', payload: { data: { tick: { n: 2, item: { name: 'Mug' } } } } });

    // No subscription type at all any more: the last one ends, its subgraph's connection (nothing routes there now) closes.
    await router.publish(withoutTicker);
    expect(await client.takeFor('2')).toMatchObject({ type: 'error', payload: [{ message: expect.stringContaining('(The schema has no subscription type)'), extensions: { code: 'SUPERGRAPH_CHANGED' } }] });
    await until(() => ticks.active(c) === 0, 'the subgraph subscription ended');
    await until(() => router.app.webSocketStats().upstreamSockets === 0, 'the connection to the removed subgraph closed', 1_500);
    // The client's connection stays up, on the new supergraph.
    client.subscribe('3', 'subscription { tick { n } }');
    expect((await client.takeFor('3')).payload).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);
    expect((await graphql(router.url, '{ ping }')).data).toEqual({ ping: 'pong' });
    await client.close();
  });
});
