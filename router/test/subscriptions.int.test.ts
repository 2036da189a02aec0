import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RouterApp } from '../src/app.ts';
import { bearer, connectWs, webSocketUrlOf, type WsTestClient } from '@shopgraph/testkit';
import { channel, claims, hostile, now, signWithIssuerKey, startSubgraph, startWorld, TICK, ticks, until, type World } from './harness.ts';

let world: World;
let url: string;
let app: RouterApp;
/** A router with a huge token cap, so the depth and alias rules are what stop hostile documents. */
let lenientUrl: string;

beforeAll(async () => {
  world = await startWorld();
  ({ url, app } = await world.router());
  lenientUrl = (await world.router({ LIMIT_MAX_TOKENS: '1000000', LIMIT_MAX_DOCUMENT_BYTES: '10000000', LIMIT_MAX_BODY_BYTES: '10000000' })).url;
});

afterAll(async () => {
  await world?.close();
});

const ticker = () => world.subgraphs.ticker.recorder;
const openUpstream = (userId: string) => world.openUpstream(userId);
const reachedTicker = (userId: string) => world.reachedTicker(userId);

async function signedIn(userId = crypto.randomUUID(), staff = false): Promise<{ client: WsTestClient; token: string; userId: string }> {
  const token = staff ? await world.issuer.staff(userId) : await world.issuer.customer(userId);
  const client = await connectWs(url, bearer(token));
  expect(client.ack).toBeDefined();
  return { client, token, userId };
}

describe('router graphql-ws: connecting', () => {
  it('acknowledges a valid token, given as authorization or as token, and says when it expires', async () => {
    const token = await world.issuer.customer();
    for (const payload of [bearer(token), { token }]) {
      const client = await connectWs(url, payload);
      expect(client.ack?.payload).toEqual({ expiresAt: expect.any(Number) });
      expect(client.ack!.payload.expiresAt).toBeGreaterThan(now() + 200);
      await client.close();
    }
  });

  it('refuses a connection without a token with 4401 (no anonymous WebSocket)', async () => {
    for (const payload of [undefined, {}, { authorization: '' }]) {
      const client = await connectWs(url, payload);
      expect(client.ack).toBeUndefined();
      expect(await client.closed).toEqual({ code: 4401, reason: expect.stringMatching(/^Unauthorized: connection_init needs/) });
    }
  });

  it.each([
    ['garbage', async () => 'Bearer not-a-jwt', /malformed/],
    ['expired', async () => `Bearer ${await signWithIssuerKey(world.issuer, claims({ iat: now() - 600, nbf: now() - 600, exp: now() - 60 }))}`, /expired/],
    ['from another issuer', async () => `Bearer ${await signWithIssuerKey(world.issuer, claims({ iss: 'https://evil.test' }))}`, /"iss"/],
    ['not a bearer token', async () => 'Basic dXNlcjpwYXNz', /Bearer/],
  ])('refuses a token that is %s with 4401 and the reason', async (_name, make, reason) => {
    const client = await connectWs(url, { authorization: await make() });
    expect(client.ack).toBeUndefined();
    const closed = await client.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(reason);
  });

  it('serves WebSocket only on /graphql', async () => {
    const socket = new WebSocket(webSocketUrlOf(url).replace('/graphql', '/elsewhere'), 'graphql-transport-ws');
    const status = await new Promise<number>((resolve) => {
      socket.on('unexpected-response', (_req: unknown, res: { statusCode: number }) => resolve(res.statusCode));
      socket.on('error', () => {});
    });
    expect(status).toBe(404);
  });

  it('refuses subscriptions over HTTP with a 400 that points to WebSocket', async () => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'subscription { tick { n } }' }) });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]).toMatchObject({ message: expect.stringMatching(/WebSocket/), extensions: { code: 'BAD_REQUEST' } });
  });
});

describe('router graphql-ws: federated subscriptions', () => {
  it('completes every event with fields of three subgraphs, shaped as asked (a standard graphql-ws client)', async () => {
    const token = await world.issuer.customer();
    const client = createClient({ url: webSocketUrlOf(url), webSocketImpl: WebSocket, connectionParams: bearer(token), retryAttempts: 0 });
    const c = channel();
    try {
      const events = client.iterate({
        query: 'subscription($c: String!) { t: tick(channel: $c) { n ... on Tick { item { name stock id } } channel p: previous { n } } }',
        variables: { c },
      });
      const first = events.next();
      await until(() => ticks.active(c) === 1, 'the ticker has the subscription');
      ticks.publish(c, 'p1');
      ticks.publish(c, 'p2');
      expect((await first).value).toEqual({ data: { t: { n: 1, item: { name: 'Kettle', stock: 7, id: 'p1' }, channel: c, p: null } } });
      expect((await events.next()).value).toEqual({ data: { t: { n: 2, item: { name: 'Mug', stock: 0, id: 'p2' }, channel: c, p: { n: 1 } } } });
      // Key order follows the operation, and nothing the client did not ask for (__typename, keys) leaks.
      await events.return?.();
      await until(() => ticks.active(c) === 0, 'the ticker subscription stopped');
    } finally {
      await client.dispose();
    }
  });

  it('passes the client\'s verified Authorization to the subgraph subscription and to every fetch completing an event', async () => {
    const { client, token, userId } = await signedIn();
    const c = channel();
    const { products, inventory } = world.subgraphs;
    const seen = [products, inventory].map((s) => s.recorder.requests.length);
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    // The ticker verified the token itself (connection_init), and ran the operation as that user.
    expect(ticker().operations.at(-1)).toMatchObject({ authorization: `Bearer ${token}`, userId });
    ticks.publish(c, 'p1');
    expect((await client.takeFor('1')).payload).toEqual({ data: { tick: { n: 1, channel: c, item: { id: 'p1', name: 'Kettle', price: expect.any(Number), stock: 7 } } } });
    const fetches = [products, inventory].flatMap((s, i) => s.recorder.requests.slice(seen[i]));
    expect(fetches).toHaveLength(2);
    for (const fetch of fetches) {
      expect(fetch.headers.authorization).toBe(`Bearer ${token}`);
      expect(fetch.identity?.userId).toBe(userId);
    }
    await client.close();
  });

  it('unsubscribing stops the subgraph subscription; the subgraph connection closes after the last', async () => {
    const { client, userId } = await signedIn();
    const other = await signedIn();
    const [a, b, c] = [channel(), channel(), channel()];
    client.subscribe('a', TICK, { channel: a });
    client.subscribe('b', TICK, { channel: b });
    other.client.subscribe('c', TICK, { channel: c });
    await until(() => ticks.active(a) === 1 && ticks.active(b) === 1 && ticks.active(c) === 1, 'all subscribed');
    // One subgraph connection per router and subgraph, shared by every client's subscriptions, each as its own user.
    expect(openUpstream(userId)).toBe(2);
    expect(openUpstream(other.userId)).toBe(1);
    expect(app.webSocketStats()).toMatchObject({ upstreamSubscriptions: 3, upstreamSockets: 1 });
    await other.client.close();

    client.send({ id: 'a', type: 'complete' });
    await until(() => ticks.active(a) === 0, 'a stopped at the source');
    expect(ticks.active(b)).toBe(1);
    expect(openUpstream(userId)).toBe(1);

    client.send({ id: 'b', type: 'complete' });
    await until(() => ticks.active(b) === 0 && openUpstream(userId) === 0, 'b stopped at the source');
    await until(() => app.webSocketStats().upstreamSockets === 0, 'the router let go of its socket');
    expect(app.webSocketStats()).toMatchObject({ upstreamSubscriptions: 0 });
    // Nothing more arrives for them, and the connection still works.
    ticks.publish(a, 'p1');
    client.subscribe('c', '{ products { id } }');
    expect((await client.takeFor('c')).type).toBe('next');
    expect(client.pending().filter((m) => m.id === 'a' || m.id === 'b')).toEqual([]);
    await client.close();
  });

  it('closing the client socket stops its subgraph subscriptions and connections', async () => {
    const { client, userId } = await signedIn();
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    client.subscribe('2', TICK, { channel: c });
    await until(() => ticks.active(c) === 2, 'subscribed');
    client.socket.terminate();
    await until(() => ticks.active(c) === 0 && openUpstream(userId) === 0, 'everything upstream closed');
    await until(() => app.webSocketStats().connections === 0 && app.webSocketStats().upstreamSockets === 0, 'the router holds nothing');
    expect(app.webSocketStats().upstreamSubscriptions).toBe(0);
  });

  it('completes the client subscription when the subgraph completes it', async () => {
    const { client } = await signedIn();
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    ticks.publish(c, 'p2');
    expect((await client.takeFor('1')).type).toBe('next');
    ticks.complete(c);
    expect(await client.takeFor('1')).toEqual({ id: '1', type: 'complete' });
    await client.close();
  });

  it('answers a selection the subgraph owns alone exactly as asked: aliases, __typename, nesting, fragments', async () => {
    const { client } = await signedIn();
    const c = channel();
    // The first is passed through as the subgraph sent it; the fragment makes the second go through the gateway's shaping.
    client.subscribe('plain', 'subscription($c: String!) { tick(channel: $c) { __typename number: n previous { n } } }', { c });
    client.subscribe('fragment', 'subscription($c: String!) { tick(channel: $c) { ...T } } fragment T on Tick { __typename number: n previous { n } }', { c });
    await until(() => ticks.active(c) === 2, 'subscribed');
    ticks.publish(c, 'p1');
    ticks.publish(c, 'p2');
    for (const id of ['plain', 'fragment']) {
      expect((await client.takeFor(id)).payload).toEqual({ data: { tick: { __typename: 'Tick', number: 1, previous: null } } });
      expect((await client.takeFor(id)).payload).toEqual({ data: { tick: { __typename: 'Tick', number: 2, previous: { n: 1 } } } });
    }
    await client.close();
  });

  it('replays from the cursor the client gives (the subgraph\'s contract, passed through as a variable)', async () => {
    const { client } = await signedIn();
    const c = channel();
    for (const item of ['p1', 'p2', 'p1']) ticks.publish(c, item);
    client.subscribe('1', 'subscription($c: String!, $after: Int) { tick(channel: $c, after: $after) { n item { name } } }', { c, after: 1 });
    expect((await client.takeFor('1')).payload).toEqual({ data: { tick: { n: 2, item: { name: 'Mug' } } } });
    expect((await client.takeFor('1')).payload).toEqual({ data: { tick: { n: 3, item: { name: 'Kettle' } } } });
    await client.close();
  });

  it('passes a subgraph\'s refusal (FORBIDDEN on another user\'s channel) to the client with its code', async () => {
    const { client, userId } = await signedIn();
    client.subscribe('1', TICK, { channel: 'user:someone-else' });
    const refused = await client.takeFor('1');
    expect(refused.type).toBe('next');
    expect(refused.payload.data).toBeNull();
    expect(refused.payload.errors).toEqual([expect.objectContaining({ message: 'Channel user:someone-else belongs to another user', extensions: expect.objectContaining({ code: 'FORBIDDEN', serviceName: 'ticker' }) })]);
    expect(await client.takeFor('1')).toEqual({ id: '1', type: 'complete' });
    // The same when the selection is the subgraph's alone (passed through).
    client.subscribe('own', 'subscription { tick(channel: "user:someone-else") { n } }');
    expect(await client.takeFor('own')).toEqual({ id: 'own', type: 'next', payload: refused.payload });
    expect(await client.takeFor('own')).toEqual({ id: 'own', type: 'complete' });

    // The user's own channel works on the same connection.
    client.subscribe('2', TICK, { channel: `user:${userId}` });
    await until(() => ticks.active(`user:${userId}`) === 1, 'subscribed');
    ticks.publish(`user:${userId}`, 'p1');
    expect((await client.takeFor('2')).payload.data.tick.n).toBe(1);
    await client.close();
  });

  it('ends the client subscription with an error when the subgraph connection drops', async () => {
    // A router whose ticker is an instance of its own, so it can be stopped.
    const own = await startSubgraph('ticker', world.issuer);
    const router = await world.router({}, { subgraphUrls: { ticker: own.url } });
    const token = await world.issuer.customer();
    const client = await connectWs(router.url, bearer(token));
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    await own.close();
    const ended = await client.takeFor('1');
    expect(ended.type).toBe('error');
    expect(ended.payload).toEqual([expect.objectContaining({ message: expect.stringMatching(/Subscription to subgraph "ticker" closed \(1001/), extensions: { code: 'SUBGRAPH_SUBSCRIPTION_FAILED', serviceName: 'ticker' } })]);
    expect(ticks.active(c)).toBe(0);
    // The client connection itself stays up.
    client.subscribe('2', '{ products { id } }');
    expect((await client.takeFor('2')).type).toBe('next');
    await client.close();
  });
});

describe('router graphql-ws: the same authorization as HTTP, before any subgraph is called', () => {
  it('enforces @requiresScopes on a subscription field: refused to a customer, served to staff', async () => {
    const customer = await signedIn();
    const operations = ticker().operations.length;
    customer.client.subscribe('1', 'subscription { staffTick { n } }');
    expect(await customer.client.takeFor('1')).toEqual({
      id: '1', type: 'error', payload: [expect.objectContaining({ message: 'Subscription.staffTick requires scope staff', extensions: { code: 'FORBIDDEN' } })],
    });
    expect(ticker().operations.length).toBe(operations);
    expect(reachedTicker(customer.userId)).toBe(false);

    const staff = await signedIn(undefined, true);
    staff.client.subscribe('1', 'subscription { staffTick { n item { name } } }');
    await until(() => ticks.active('staff') === 1, 'staff subscribed');
    ticks.publish('staff', 'p2');
    expect((await staff.client.takeFor('1')).payload).toEqual({ data: { staffTick: { n: expect.any(Number), item: { name: 'Mug' } } } });
    await Promise.all([customer.client.close(), staff.client.close()]);
  });

  it('enforces @requiresScopes on a field of another subgraph selected in the event (Product.cost)', async () => {
    const customer = await signedIn();
    const c = channel();
    const operations = ticker().operations.length;
    customer.client.subscribe('1', 'subscription($c: String!) { tick(channel: $c) { item { ...F } } } fragment F on Product { cost }', { c });
    expect((await customer.client.takeFor('1')).payload).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    expect(ticker().operations.length).toBe(operations);
    expect(reachedTicker(customer.userId)).toBe(false);

    const staff = await signedIn(undefined, true);
    staff.client.subscribe('1', 'subscription($c: String!) { tick(channel: $c) { item { ...F } } } fragment F on Product { cost }', { c });
    await until(() => ticks.active(c) === 1, 'staff subscribed');
    ticks.publish(c, 'p1');
    expect((await staff.client.takeFor('1')).payload).toEqual({ data: { tick: { item: { cost: 1_200 } } } });
    await Promise.all([customer.client.close(), staff.client.close()]);
  });

  it('runs queries over the WebSocket through the same executor and checks', async () => {
    const customer = await signedIn();
    customer.client.subscribe('1', '{ products { id name stock } whoami }');
    expect(await customer.client.takeFor('1')).toEqual({
      id: '1', type: 'next', payload: { data: { products: [{ id: 'p1', name: 'Kettle', stock: 7 }, { id: 'p2', name: 'Mug', stock: 0 }], whoami: customer.userId } },
    });
    expect(await customer.client.takeFor('1')).toEqual({ id: '1', type: 'complete' });
    customer.client.subscribe('2', '{ products { cost } }');
    expect((await customer.client.takeFor('2')).payload).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    await customer.client.close();
  });
});

describe('router graphql-ws: hostile subscribe messages get an error with a stable code; the connection stays usable', () => {
  const { deep, aliased, manyTokens } = hostile;

  const cases: [string, () => string, string, RegExp][] = [
    ['depth 10,000 (document size)', () => deep(10_000), 'DOCUMENT_TOO_LARGE', /larger than 32768 bytes/],
    ['depth 2,000 (token cap)', () => deep(2_000), 'GRAPHQL_PARSE_FAILED', /more th[ae][nt] 2000 tokens/],
    ['depth 20', () => deep(20), 'GRAPHQL_VALIDATION_FAILED', /depth limit of 12 exceeded/],
    ['100,000 tokens (document size)', () => manyTokens(100_000), 'DOCUMENT_TOO_LARGE', /larger than 32768 bytes/],
    ['10,000 tokens (token cap)', () => manyTokens(10_000), 'GRAPHQL_PARSE_FAILED', /more th[ae][nt] 2000 tokens/],
    ['40 aliases', () => aliased(40), 'GRAPHQL_VALIDATION_FAILED', /Aliases limit of 30 exceeded/],
    ['a syntax error', () => 'subscription { tick { n }', 'GRAPHQL_PARSE_FAILED', /Syntax Error/],
    ['an unknown field', () => 'subscription { tock { n } }', 'GRAPHQL_VALIDATION_FAILED', /Cannot query field "tock"/],
    ['two root fields in a subscription', () => 'subscription { tick { n } staffTick { n } }', 'GRAPHQL_VALIDATION_FAILED', /must select only one top level field/],
    ['two operations and no name', () => 'subscription A { tick { n } } subscription B { tick { n } }', 'OPERATION_RESOLUTION_FAILURE', /operation name/],
  ];

  it.each(cases)('%s', async (_name, document, code, message) => {
    const { client, userId } = await signedIn();
    const operations = ticker().operations.length;
    client.subscribe('bad', document());
    const refused = await client.takeFor('bad');
    expect(refused.type).toBe('error');
    expect(refused.payload.map((e: { extensions: { code: string } }) => e.extensions.code)).toContain(code);
    expect(refused.payload.map((e: { message: string }) => e.message)).toContainEqual(expect.stringMatching(message));
    expect(ticker().operations.length).toBe(operations);
    expect(reachedTicker(userId)).toBe(false);
    // Same connection, a normal subscription.
    const c = channel();
    client.subscribe('ok', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed after the refusal');
    ticks.publish(c, 'p1');
    expect((await client.takeFor('ok')).payload.data.tick.n).toBe(1);
    await client.close();
  });

  it('variables of the wrong type: BAD_USER_INPUT', async () => {
    const { client } = await signedIn();
    client.subscribe('1', TICK, { channel: 42 });
    expect((await client.takeFor('1')).payload).toEqual([expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT' } })]);
    client.subscribe('2', TICK, {});
    expect((await client.takeFor('2')).payload).toEqual([expect.objectContaining({ message: expect.stringMatching(/\$channel/), extensions: { code: 'BAD_USER_INPUT' } })]);
    await client.close();
  });

  it('with no token cap, depth 500 and 100,000 tokens are refused by the validation rules', async () => {
    const token = await world.issuer.customer();
    const client = await connectWs(lenientUrl, bearer(token));
    client.subscribe('deep', deep(500));
    const deepRefusal = await client.takeFor('deep');
    expect(deepRefusal.type).toBe('error');
    expect(deepRefusal.payload).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/depth limit of 12 exceeded/), extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) }));
    client.subscribe('wide', manyTokens(100_000));
    const wide = await client.takeFor('wide');
    expect(wide.type).toBe('error');
    expect(wide.payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // Refused, not fatal: the same connection still subscribes.
    const c = channel();
    client.subscribe('after', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed after the refusals');
    await client.close();
  });

  it('at most 100 operations at once per connection: the next gets TOO_MANY_OPERATIONS until one ends', async () => {
    const { client } = await signedIn();
    const c = channel();
    for (let i = 0; i < 100; i++) client.subscribe(`s${i}`, TICK, { channel: c });
    await until(() => ticks.active(c) === 100, 'all subscribed');
    client.subscribe('one-more', TICK, { channel: c });
    expect((await client.takeFor('one-more')).payload).toEqual([expect.objectContaining({ extensions: { code: 'TOO_MANY_OPERATIONS' } })]);
    client.send({ id: 's0', type: 'complete' });
    await until(() => ticks.active(c) === 99, 'one ended');
    client.subscribe('one-more', TICK, { channel: c });
    await until(() => ticks.active(c) === 100, 'accepted again');
    await client.close();
    await until(() => ticks.active(c) === 0, 'all stopped');
  });

  it('a message over the body limit closes the socket (1009), as a too large HTTP body gets a 413', async () => {
    const { client } = await signedIn();
    client.subscribe('big', TICK, { channel: 'x'.repeat(2_000_000) });
    expect((await client.closed).code).toBe(1009);
  });
});

describe('router graphql-ws: tokens expire, and can be refreshed without dropping subscriptions', () => {
  const shortToken = (userId: string, ttlSeconds: number) => world.shortLivedToken(userId, ttlSeconds);

  it('closes the socket with 4401 "Token expired" at the token\'s exp, and everything upstream with it', async () => {
    const userId = crypto.randomUUID();
    const token = await shortToken(userId, 3);
    const client = await connectWs(url, bearer(token));
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    const expiresAt = client.ack!.payload.expiresAt * 1000;
    const closed = await client.closed;
    expect(closed).toEqual({ code: 4401, reason: 'Token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(Date.now()).toBeLessThan(expiresAt + 1_500);
    await until(() => ticks.active(c) === 0 && openUpstream(userId) === 0, 'the subgraph subscription and connection closed');
  });

  it('keeps subscriptions past the old exp after a refresh in a ping; later fetches and the subgraph connection use the new token', async () => {
    const userId = crypto.randomUUID();
    const first = await shortToken(userId, 3);
    const client = await connectWs(url, bearer(first));
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    ticks.publish(c, 'p1');
    expect((await client.takeFor('1')).payload.data.tick.n).toBe(1);

    const fresh = await world.issuer.customer(userId);
    client.send({ type: 'ping', payload: { token: fresh } });
    await client.take((m) => m.type === 'pong');
    const upstream = ticker().sessions.filter((s) => !s.closed && s.identity.userId === userId);
    expect(upstream).toHaveLength(1);
    // The router passed the refresh on to the subgraph connection, which would otherwise close at the old exp.
    await until(() => upstream[0]!.authorization === `Bearer ${fresh}`, 'the subgraph connection refreshed');

    await sleep(Math.max(0, client.ack!.payload.expiresAt * 1000 - Date.now()) + 500);
    const products = world.subgraphs.products.recorder;
    const seen = products.requests.length;
    ticks.publish(c, 'p2');
    expect((await client.takeFor('1')).payload.data.tick).toMatchObject({ n: 2, item: { name: 'Mug' } });
    expect(products.requests.slice(seen).map((r) => r.headers.authorization)).toEqual([`Bearer ${fresh}`]);
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    expect(upstream[0]!.closed).toBe(false);

    // New subscriptions run with the new token too.
    client.subscribe('2', TICK, { channel: channel() });
    await until(() => ticker().operations.at(-1)?.userId === userId && ticker().operations.at(-1)?.authorization === `Bearer ${fresh}`, 'subscribed with the new token');
    await client.close();
  });

  it('closes with 4403 on a refresh for another user, and 4401 on a refresh that does not verify', async () => {
    const { client } = await signedIn();
    client.send({ type: 'ping', payload: bearer(await world.issuer.customer()) });
    expect(await client.closed).toEqual({ code: 4403, reason: expect.stringMatching(/same user/) });

    const other = await signedIn();
    other.client.send({ type: 'ping', payload: { authorization: 'Bearer not-a-jwt' } });
    expect(await other.client.closed).toEqual({ code: 4401, reason: expect.stringMatching(/^Unauthorized: .*malformed/) });
  });

  it('answers a plain ping (no token) with a pong and changes nothing', async () => {
    const { client } = await signedIn();
    client.send({ type: 'ping' });
    expect(await client.take((m) => m.type === 'pong')).toEqual({ type: 'pong' });
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    await client.close();
  });
});

describe('router graphql-ws: shutdown', () => {
  it('closes client sockets with 1001 and the subgraph connections with them', async () => {
    const router = await world.router();
    const userId = crypto.randomUUID();
    const client = await connectWs(router.url, bearer(await world.issuer.customer(userId)));
    const c = channel();
    client.subscribe('1', TICK, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    await router.app.close();
    expect((await client.closed).code).toBe(1001);
    await until(() => ticks.active(c) === 0 && openUpstream(userId) === 0, 'upstream closed');
  });
});
