import { connectWs, createTestIssuer, graphql, TEST_AUDIENCE, TEST_ISSUER, testLogger, type TestIssuer, type WsTestClient } from '@shopgraph/testkit';
import { buildSchema, GraphQLError, parse, type ExecutionResult } from 'graphql';
import { createServer, type Server } from 'node:http';
import { setImmediate as tick } from 'node:timers/promises';
import WebSocket from 'ws';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveGraphQLOverWebSocket, type GraphQLWsServer } from '@shopgraph/core/graphql-ws';
import type { Session } from '@shopgraph/core/session';
import { defaultLimits } from '@shopgraph/core/limits';

import { pushable, type Pushable } from '@shopgraph/core/stream';
import { createSubgraph, type RequestContext, type Service } from '../src/subgraph.ts';

// A subgraph serving its own schema over graphql-ws with `createSubgraph({ webSocket: true })`.
const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@authenticated", "@requiresScopes"])
  type Query { whoami: String @authenticated }
  type Subscription {
    "Numbers pushed on a channel; each event says which context it was executed with."
    numbers(channel: String!): Number!
    staffNumbers: Number! @requiresScopes(scopes: [["staff"]])
  }
  type Number { n: Int! context: Int! userId: String! parent: Number }
`);

interface Context extends RequestContext {
  /** Which context this is (numbered as they are built). */
  serial: number;
  session: Session | undefined;
}

const channels = new Map<string, Set<Pushable<number>>>();
const publish = (channel: string, n: number) => channels.get(channel)?.forEach((stream) => stream.push(n));
const listening = (channel: string) => channels.get(channel)?.size ?? 0;
const listen = (channel: string) => {
  const set = channels.get(channel) ?? new Set();
  channels.set(channel, set);
  const stream: Pushable<number> = pushable({ onReturn: () => set.delete(stream) });
  set.add(stream);
  return stream.iterator;
};
let subscribeCalls = 0;
let contexts = 0;
const sessions: Session[] = [];
let service: Service;
let url: string;
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await createTestIssuer();
  service = await createSubgraph<Context>({
    name: 'numbers',
    typeDefs,
    resolvers: {
      Query: { whoami: (_s: unknown, _a: unknown, context: Context) => context.identity?.userId ?? null },
      Subscription: {
        numbers: {
          subscribe: (_s: unknown, { channel }: { channel: string }) => {
            subscribeCalls++;
            return listen(channel);
          },
          resolve: (n: number) => n,
        },
        staffNumbers: {
          subscribe: () => {
            subscribeCalls++;
            return listen('staff');
          },
          resolve: (n: number) => n,
        },
      },
      Number: {
        n: (n: number) => n,
        context: (_n: number, _a: unknown, context: Context) => context.serial,
        userId: (_n: number, _a: unknown, context: Context) => context.identity!.userId,
        parent: (n: number) => (n > 1 ? n - 1 : null),
      },
    } as never,
    verifier: issuer.verifier,
    limits: defaultLimits,
    logger: testLogger('ws-test'),
    production: false,
    webSocket: { onSession: (session) => void sessions.push(session) },
    context: (identity, _req, session) => ({ identity, session, serial: ++contexts }),
  });
  url = `${await service.listen(0)}/graphql`;
});

afterAll(async () => {
  await service?.close();
});

const NUMBERS = 'subscription($c: String!) { numbers(channel: $c) { n context userId } }';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const channel = () => `c-${crypto.randomUUID()}`;

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function signedIn(staff = false): Promise<{ client: WsTestClient; userId: string }> {
  const userId = crypto.randomUUID();
  const client = await connectWs(url, bearer(staff ? await issuer.staff(userId) : await issuer.customer(userId)));
  expect(client.ack).toBeDefined();
  return { client, userId };
}

describe('createSubgraph({ webSocket: true })', () => {
  it('serves the same schema over graphql-ws on the same port and path as HTTP', async () => {
    const token = await issuer.customer('u-http');
    expect((await graphql(url, '{ whoami }', {}, token)).data).toEqual({ whoami: 'u-http' });
    const client = await connectWs(url, bearer(token));
    client.subscribe('q', '{ whoami }');
    expect(await client.takeFor('q')).toEqual({ id: 'q', type: 'next', payload: { data: { whoami: 'u-http' } } });
    await client.close();
  });

  it('refuses a connection without a verified token with 4401', async () => {
    for (const payload of [undefined, {}, { authorization: 'Bearer not-a-jwt' }]) {
      const client = await connectWs(url, payload);
      expect(client.ack).toBeUndefined();
      expect((await client.closed).code).toBe(4401);
    }
  });

  it('executes each event with a fresh context (the connection\'s identity), so events read current data', async () => {
    const { client, userId } = await signedIn();
    const c = channel();
    client.subscribe('1', NUMBERS, { c });
    await until(() => listening(c) === 1, 'subscribed');
    publish(c, 1);
    publish(c, 2);
    const first = (await client.takeFor('1')).payload.data.numbers;
    const second = (await client.takeFor('1')).payload.data.numbers;
    expect([first.n, second.n]).toEqual([1, 2]);
    expect(first.userId).toBe(userId);
    expect(second.context).toBeGreaterThan(first.context);
    expect(sessions.at(-1)!.identity.userId).toBe(userId);
    client.send({ id: '1', type: 'complete' });
    await until(() => listening(c) === 0, 'the source released');
    await client.close();
  });

  it('refuses a guarded subscription at subscribe time, before its source is set up', async () => {
    const { client } = await signedIn();
    const calls = subscribeCalls;
    client.subscribe('s', 'subscription { staffNumbers { n } }');
    expect(await client.takeFor('s')).toEqual({ id: 's', type: 'error', payload: [expect.objectContaining({ message: 'Subscription.staffNumbers requires scope staff', extensions: { code: 'FORBIDDEN' } })] });
    expect(subscribeCalls).toBe(calls);
    expect(listening('staff')).toBe(0);

    const staff = await signedIn(true);
    staff.client.subscribe('s', 'subscription { staffNumbers { n } }');
    await until(() => listening('staff') === 1, 'staff subscribed');
    publish('staff', 7);
    expect((await staff.client.takeFor('s')).payload).toEqual({ data: { staffNumbers: { n: 7 } } });
    await Promise.all([client.close(), staff.client.close()]);
  });

  it('applies the operation limits: hostile documents get an error with a stable code, the connection stays', async () => {
    const { client } = await signedIn();
    const deep = `subscription { numbers(channel: "x") { ${'parent { '.repeat(20)}n${' }'.repeat(20)} } }`;
    const aliases = `subscription { numbers(channel: "x") { ${Array.from({ length: 40 }, (_, i) => `a${i}: n`).join(' ')} } }`;
    const tokens = `subscription { numbers(channel: "x") { ${'n '.repeat(5_000)}} }`;
    for (const [document, code] of [[deep, 'GRAPHQL_VALIDATION_FAILED'], [aliases, 'GRAPHQL_VALIDATION_FAILED'], [tokens, 'GRAPHQL_PARSE_FAILED']] as const) {
      const calls = subscribeCalls;
      client.subscribe('bad', document);
      const refused = await client.takeFor('bad');
      expect(refused.type).toBe('error');
      expect(refused.payload[0].extensions.code).toBe(code);
      expect(subscribeCalls).toBe(calls);
    }
    const c = channel();
    client.subscribe('ok', NUMBERS, { c });
    await until(() => listening(c) === 1, 'subscribed after the refusals');
    await client.close();
  });

  it('keeps a subscription past the token\'s exp after a refresh in a ping; closes with 4401 at exp without one', async () => {
    const userId = crypto.randomUUID();
    // A 2 s token from the trusted issuer's own key.
    const key = await importJWK(issuer.privateJwk, issuer.privateJwk.alg!);
    const now = Math.floor(Date.now() / 1000);
    const twoSeconds = await new SignJWT({ scope: 'customer' })
      .setProtectedHeader({ alg: issuer.privateJwk.alg!, kid: issuer.privateJwk.kid! })
      .setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE).setSubject(userId).setIssuedAt(now).setExpirationTime(now + 2)
      .sign(key);

    const refreshed = await connectWs(url, bearer(twoSeconds));
    const expiring = await connectWs(url, bearer(twoSeconds));
    const c = channel();
    refreshed.subscribe('1', NUMBERS, { c });
    expiring.subscribe('1', NUMBERS, { c });
    await until(() => listening(c) === 2, 'both subscribed');
    await refreshed.refresh(await issuer.customer(userId));
    expect(await expiring.closed).toEqual({ code: 4401, reason: 'Token expired' });
    await until(() => listening(c) === 1, 'the expired connection\'s subscription released');
    publish(c, 3);
    expect((await refreshed.takeFor('1')).payload.data.numbers).toMatchObject({ n: 3, userId });
    await refreshed.close();
  });

  describe('a shared connection (a router\'s): every operation carries its own token', () => {
    const withToken = (client: WsTestClient, id: string, authorization: string | undefined, variables: Record<string, unknown>, query = NUMBERS) =>
      client.send({ id, type: 'subscribe', payload: { query, variables, extensions: authorization ? { authorization } : {} } });
    /** A token of `userId` that expires in `seconds`, from the trusted issuer's own key. */
    const shortLived = async (userId: string, seconds: number) => {
      const key = await importJWK(issuer.privateJwk, issuer.privateJwk.alg!);
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope: 'customer' })
        .setProtectedHeader({ alg: issuer.privateJwk.alg!, kid: issuer.privateJwk.kid! })
        .setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE).setSubject(userId).setIssuedAt(now).setExpirationTime(now + seconds)
        .sign(key);
    };

    it('runs each operation as its own token\'s user; one without a verified token is refused, the connection stays', async () => {
      const shared = await connectWs(url, { operationTokens: true });
      expect(shared.ack).toBeDefined();
      const [alice, bob] = [crypto.randomUUID(), crypto.randomUUID()];
      const c = channel();
      withToken(shared, 'a', `Bearer ${await issuer.customer(alice)}`, { c });
      withToken(shared, 'b', `Bearer ${await issuer.customer(bob)}`, { c });
      for (const [id, authorization] of [['none', undefined], ['forged', 'Bearer not-a-jwt']] as const) {
        withToken(shared, id, authorization, { c });
        const refused = await shared.takeFor(id);
        expect(refused).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
      }
      await until(() => listening(c) === 2, 'both subscribed');
      publish(c, 5);
      expect((await shared.takeFor('a')).payload.data.numbers).toMatchObject({ n: 5, userId: alice });
      expect((await shared.takeFor('b')).payload.data.numbers).toMatchObject({ n: 5, userId: bob });

      // Guarded fields are checked against the operation's own identity.
      withToken(shared, 's', `Bearer ${await issuer.customer(alice)}`, {}, 'subscription { staffNumbers { n } }');
      expect((await shared.takeFor('s')).payload[0].extensions.code).toBe('FORBIDDEN');
      await shared.close();
      await until(() => listening(c) === 0, 'released with the connection');
    });

    it('ends an operation at its token\'s exp (not the connection); a refresh in a ping keeps another going', async () => {
      const userId = crypto.randomUUID();
      const shared = await connectWs(url, { operationTokens: true });
      const c = channel();
      const twoSeconds = `Bearer ${await shortLived(userId, 2)}`;
      withToken(shared, 'expiring', twoSeconds, { c });
      withToken(shared, 'refreshed', twoSeconds, { c });
      withToken(shared, 'stolen', twoSeconds, { c });
      await until(() => listening(c) === 3, 'all subscribed');
      shared.send({ type: 'ping', payload: { operations: { refreshed: `Bearer ${await issuer.customer(userId)}`, stolen: `Bearer ${await issuer.customer()}` } } });
      await shared.take((m) => m.type === 'pong');
      // A refresh for someone else ends that operation at once.
      expect(await shared.takeFor('stolen')).toMatchObject({ type: 'next', payload: { errors: [{ extensions: { code: 'FORBIDDEN' } }] } });
      expect(await shared.takeFor('stolen')).toEqual({ id: 'stolen', type: 'complete' });
      expect(await shared.takeFor('expiring', 5_000)).toMatchObject({ type: 'next', payload: { errors: [{ message: 'Token expired', extensions: { code: 'UNAUTHENTICATED' } }] } });
      expect(await shared.takeFor('expiring')).toEqual({ id: 'expiring', type: 'complete' });
      await until(() => listening(c) === 1, 'the ended operations\' sources released');
      publish(c, 9);
      expect((await shared.takeFor('refreshed')).payload.data.numbers).toMatchObject({ n: 9, userId });
      expect(shared.socket.readyState).toBe(shared.socket.OPEN);
      await shared.close();
    });
  });

  it('closes WebSocket connections with 1001 when the service closes', async () => {
    const other = await createSubgraph<Context>({
      name: 'numbers', typeDefs, resolvers: { Subscription: { numbers: { subscribe: () => listen('bye'), resolve: (n: number) => n }, staffNumbers: { subscribe: () => listen('bye') } } } as never,
      verifier: issuer.verifier, limits: defaultLimits, logger: testLogger('ws-test'), production: false, webSocket: true,
      context: (identity) => ({ identity, session: undefined, serial: 0 }),
    });
    const client = await connectWs(`${await other.listen(0)}/graphql`, bearer(await issuer.customer()));
    client.subscribe('1', 'subscription { numbers(channel: "bye") { n } }');
    await until(() => listening('bye') === 1, 'subscribed');
    await other.close();
    expect((await client.closed).code).toBe(1001);
    await until(() => listening('bye') === 0, 'released');
  });
});

describe('serveGraphQLOverWebSocket with a pushed stream (PushIterator)', () => {
  // Each subscription's stream is handed to the test, which pushes results into it.
  const streams: Pushable<ExecutionResult>[] = [];
  let released = 0;
  let server: Server;
  let ws: GraphQLWsServer;
  let pushUrl: string;

  beforeAll(async () => {
    server = createServer();
    ws = serveGraphQLOverWebSocket(server, {
      schema: buildSchema('type Query { ok: Boolean } type Subscription { text: String }'),
      verifier: issuer.verifier,
      limits: defaultLimits,
      logger: testLogger('ws-push-test'),
      production: true,
      maxBufferedBytes: 64 * 1024,
      context: () => ({}),
      subscribe: () => {
        const stream = pushable<ExecutionResult>({
          onReturn: () => released++,
          overflow: () => new GraphQLError('Too slow', { extensions: { code: 'SUBSCRIPTION_OVERFLOW' } }),
        });
        streams.push(stream);
        return stream.iterator;
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pushUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  });

  afterAll(async () => {
    await ws?.close();
    server?.close();
  });

  const subscribed = async (id: string) => {
    const client = await connectWs(pushUrl, bearer(await issuer.customer()));
    const count = streams.length;
    client.subscribe(id, 'subscription { text }');
    await until(() => streams.length > count, 'subscribed');
    return { client, stream: streams.at(-1)! };
  };

  it('sends each result as it is pushed, in order, errors masked like pulled ones, then completes', async () => {
    const { client, stream } = await subscribed('p');
    stream.push({ data: { text: 'one' } });
    stream.push({ data: { text: null }, errors: [new GraphQLError('not yours', { path: ['text'], extensions: { code: 'FORBIDDEN' } }), new GraphQLError('db down', { path: ['text'] })] });
    stream.end();
    expect(await client.takeFor('p')).toEqual({ id: 'p', type: 'next', payload: { data: { text: 'one' } } });
    expect(await client.takeFor('p')).toEqual({
      id: 'p', type: 'next', payload: {
        data: { text: null },
        errors: [
          { message: 'not yours', path: ['text'], extensions: { code: 'FORBIDDEN' } },
          { message: 'Internal server error', path: ['text'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
        ],
      },
    });
    expect(await client.takeFor('p')).toEqual({ id: 'p', type: 'complete' });
    await client.close();
  });

  it('ends the subscription of a client that stops reading, with the stream\'s overflow error, and releases its producer', async () => {
    const { client, stream } = await subscribed('slow');
    const before = released;
    client.socket.pause();
    const chunk = 'x'.repeat(64 * 1024);
    // Until the kernel's buffers are full and 64 KB more wait in the server.
    for (let i = 0; i < 2_000 && released === before; i++) {
      stream.push({ data: { text: chunk } });
      await tick();
    }
    expect(released).toBe(before + 1);
    client.socket.resume();
    const ended = await client.take((m) => m.id === 'slow' && m.type !== 'next', 30_000);
    expect(ended).toEqual({ id: 'slow', type: 'error', payload: [{ message: 'Too slow', extensions: { code: 'SUBSCRIPTION_OVERFLOW' } }] });
    await client.close();
  });

  it('stops pushing when the client completes, and releases the producer', async () => {
    const { client, stream } = await subscribed('c');
    stream.push({ data: { text: 'before' } });
    expect((await client.takeFor('c')).payload).toEqual({ data: { text: 'before' } });
    const before = released;
    client.send({ id: 'c', type: 'complete' });
    await until(() => released === before + 1, 'released');
    stream.push({ data: { text: 'after' } });
    client.subscribe('d', 'subscription { text }');
    await until(() => streams.at(-1) !== stream, 'subscribed again');
    streams.at(-1)!.push({ data: { text: 'second' } });
    expect(await client.take()).toEqual({ id: 'd', type: 'next', payload: { data: { text: 'second' } } });
    await client.close();
  });
});

describe('serveGraphQLOverWebSocket keep-alive', () => {
  async function serveWithKeepAlive(keepAliveMs: number) {
    const server = createServer();
    const ws = serveGraphQLOverWebSocket(server, {
      schema: buildSchema('type Query { ok: Boolean }'),
      verifier: issuer.verifier,
      limits: defaultLimits,
      logger: testLogger('ws-keepalive-test'),
      production: true,
      keepAliveMs,
      context: () => ({}),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, ws, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql` };
  }

  it('pings every socket each interval and drops one that has not answered by the next', async () => {
    const { server, ws, url } = await serveWithKeepAlive(100);
    try {
      const answering = await connectWs(url, bearer(await issuer.customer()));
      let pings = 0;
      answering.socket.on('ping', () => pings++);
      // A peer gone silent: its socket is open but it answers no ping.
      const silent = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { autoPong: false });
      const silentClosed = new Promise<number>((resolve) => silent.once('close', resolve));
      await new Promise((resolve) => silent.once('open', resolve));
      silent.send(JSON.stringify({ type: 'connection_init', payload: bearer(await issuer.customer()) }));
      // Terminated (no close frame): 1006 on the client's side.
      expect(await silentClosed).toBe(1006);
      await until(() => pings >= 3, 'pinged');
      expect(answering.socket.readyState).toBe(WebSocket.OPEN);
      expect(ws.connections).toBe(1);
      await answering.close();
    } finally {
      await ws.close();
      server.close();
    }
  });

  it('keeps a peer that answers late but within the interval, however few the sockets', async () => {
    const { server, ws, url } = await serveWithKeepAlive(200);
    try {
      const slow = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { autoPong: false });
      let closed = false;
      slow.once('close', () => (closed = true));
      let pings = 0;
      const pingTimes: number[] = [];
      // Answers every ping after half an interval, as a slow mobile link would.
      slow.on('ping', () => {
        pings++;
        pingTimes.push(performance.now());
        setTimeout(() => slow.readyState === WebSocket.OPEN && slow.pong(), 100);
      });
      await new Promise((resolve) => slow.once('open', resolve));
      await until(() => pings >= 4 || closed, 'pinged four times');
      expect(closed).toBe(false);
      expect(pings).toBeLessThanOrEqual(6);
      // Once per interval, however few the sockets (not every few ticks of it).
      const gaps = pingTimes.slice(1).map((time, i) => time - pingTimes[i]!);
      expect(Math.min(...gaps)).toBeGreaterThan(200 * 0.75);
      slow.close();
    } finally {
      await ws.close();
      server.close();
    }
  });

  it('spreads the pings over the interval, not all sockets at once', async () => {
    const keepAliveMs = 500;
    const { server, ws, url } = await serveWithKeepAlive(keepAliveMs);
    const token = bearer(await issuer.customer());
    const peers = await Promise.all(Array.from({ length: 100 }, () => connectWs(url, token)));
    try {
      // Each socket's first ping from now on: one lap of the sweep.
      const firstPings = await Promise.all(peers.map((peer) => new Promise<number>((resolve) => peer.socket.once('ping', () => resolve(performance.now())))));
      expect(Math.max(...firstPings) - Math.min(...firstPings)).toBeGreaterThan(keepAliveMs / 2);
    } finally {
      await Promise.all(peers.map((peer) => peer.close()));
      await ws.close();
      server.close();
    }
  });
});
