import { ApolloLink, CombinedGraphQLErrors, gql, type HttpLink } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { apolloClient, bearer, httpLink as linkTo, recordingFetch, subscribeOver, TRANSPORTS, type Exchange, type Live, type Result, type Transport, type WireError } from '@shopgraph/testkit';
import { parse } from 'graphql';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterApp } from '../src/app.ts';
import { createPlanExecution } from '../src/execution.ts';
import { gatewaySupergraphSdl } from '../src/supergraph.ts';
import { channel, hostile, startSubgraph, startWorld, ticks, until, type World } from './harness.ts';

/**
 * Every transport on the router's one URL, driven by the client libraries users run: graphql-ws's
 * `createClient`, Apollo Client (`HttpLink`: JSON, GET, Apollo's multipart subscriptions, and its
 * persisted-queries link) and graphql-sse's `createClient` (distinct connections). The same
 * scenarios run on each, so a transport that behaves differently fails here.
 */

let world: World;
let url: string;
let app: RouterApp;

beforeAll(async () => {
  world = await startWorld();
  ({ url, app } = await world.router());
});

afterAll(async () => {
  await world?.close();
});

// `__typename` is selected wherever Apollo Client's cache would add it, so every client sends the same document.
/** Owned by the ticker alone: each event is the subgraph's answer, passed through. */
const PASS_THROUGH = 'subscription($channel: String!, $after: Int) { tick(channel: $channel, after: $after) { __typename n channel } }';
/** With fields of two other subgraphs: each event is completed by fetches made with the caller's token. */
const PER_EVENT = 'subscription($channel: String!) { tick(channel: $channel) { __typename n item { __typename id name stock } } }';
const ITEMS: Record<string, { __typename: 'Product'; id: string; name: string; stock: number }> = {
  p1: { __typename: 'Product', id: 'p1', name: 'Kettle', stock: 7 },
  p2: { __typename: 'Product', id: 'p2', name: 'Mug', stock: 0 },
};
const passedTick = (n: number, c: string) => ({ tick: { __typename: 'Tick', n, channel: c } });
const perEventTick = (n: number, item: string) => ({ tick: { __typename: 'Tick', n, item: ITEMS[item] } });

/** Apollo Client's HTTP link to the world's router. */
const httpLink = (token: string | undefined, fetchFn: typeof fetch = fetch, options: Partial<HttpLink.Options> = {}) => linkTo(url, token, fetchFn, options);
/** Subscribes over one transport, to the world's router unless `at` says. */
const open = (transport: Transport, query: string, variables: Record<string, unknown>, token: string | undefined, { extensions, at = url }: { extensions?: Record<string, unknown>; at?: string } = {}): Live =>
  subscribeOver(transport, at, query, variables, token, { extensions });


/**
 * The errors a stream ended with, however its transport carries them: a fatal error (`how`: a
 * graphql-ws `error` message or close code, multipart protocol errors, an HTTP status), or one last
 * result with errors and no data before the stream completed (`how`: 'last result').
 */
async function endErrors(live: Live, timeoutMs = 5_000): Promise<{ errors: WireError[]; how: string }> {
  const end = await live.ended(timeoutMs);
  if (end.kind === 'error') {
    expect(live.untaken()).toEqual([]);
    return { errors: end.errors, how: end.how };
  }
  const last = live.untaken();
  expect(last).toHaveLength(1);
  expect(last[0]!.data ?? null).toBeNull();
  return { errors: [...(last[0]!.errors ?? [])], how: 'last result' };
}

/** Asserts the stream was refused before any event: no data at all, and errors with `code` (and `message`). */
async function expectRefused(live: Live, code: string, message: RegExp): Promise<{ how: string }> {
  const { errors, how } = await endErrors(live);
  expect(live.results.filter((r) => r.data != null)).toEqual([]);
  expect(errors.map((e) => e.extensions?.['code'])).toContain(code);
  expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(message));
  return { how };
}

/** What the router's own refusal (before any subgraph is called) looks like on each transport. */
function expectRouterRefusal(live: Live, how: string, status: number): void {
  // graphql-ws: an `error` message for the operation; a caller that is not signed in never gets a connection (4401).
  if (live.transport === 'graphql-ws') expect(how).toBe(status === 401 ? 'close 4401' : 'error message');
  // Apollo's multipart clients read a refusal from a JSON answer with its status.
  if (live.transport === 'multipart') expect({ how, ...live.http }).toEqual({ how: 'last result', status, contentType: 'application/graphql-response+json; charset=utf-8' });
  // graphql-sse reports it in the stream (its clients retry a failed connection).
  if (live.transport === 'sse') expect({ how, ...live.http }).toEqual({ how: 'last result', status: 200, contentType: 'text/event-stream; charset=utf-8' });
}

/** Marks where the products and inventory subgraphs' request logs are now; `since()` are the requests they got after. */
function subgraphFetches() {
  const recorders = [world.subgraphs.products.recorder, world.subgraphs.inventory.recorder];
  const marks = recorders.map((r) => r.requests.length);
  return { since: () => recorders.flatMap((r, i) => r.requests.slice(marks[i])) };
}
const expOf = (token: string): number => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;

describe('the premise: one subscription passed through, one executed per event', () => {
  it('plans PASS_THROUGH as passed through and PER_EVENT as executed per event', () => {
    const execution = createPlanExecution(gatewaySupergraphSdl(parse(world.supergraphSdl)));
    expect(execution.prepare('pass', parse(PASS_THROUGH), undefined).passesThrough).toBe(true);
    expect(execution.prepare('per-event', parse(PER_EVENT), undefined).passesThrough).toBe(false);
  });
});

describe.each(TRANSPORTS)('%s: a live subscription', (transport) => {
  it('receives live ticks completed per event with fields of other subgraphs, fetched with the caller\'s token; unsubscribing stops the subgraph subscription', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const c = channel();
    const upstreamBefore = app.webSocketStats().upstreamSubscriptions;
    const live = open(transport, PER_EVENT, { channel: c }, token);
    await until(() => ticks.active(c) === 1, 'the ticker has the subscription');
    expect(app.webSocketStats().upstreamSubscriptions).toBe(upstreamBefore + 1);
    const fetches = subgraphFetches();

    ticks.publish(c, 'p1');
    ticks.publish(c, 'p2');
    expect(await live.next()).toEqual({ data: perEventTick(1, 'p1') });
    expect(await live.next()).toEqual({ data: perEventTick(2, 'p2') });
    // Two events, each completed by one fetch from products and one from inventory, as the caller.
    expect(fetches.since()).toHaveLength(4);
    for (const fetch of fetches.since()) {
      expect(fetch.headers.authorization).toBe(`Bearer ${token}`);
      expect(fetch.identity?.userId).toBe(userId);
    }

    live.stop();
    await until(() => ticks.active(c) === 0 && world.openUpstream(userId) === 0, 'the subgraph subscription stopped');
    await until(() => app.webSocketStats().upstreamSubscriptions === upstreamBefore, 'the router let go of it');
    expect(live.end?.kind).not.toBe('error');
    expect(live.untaken()).toEqual([]);
  });

  it('resumes after a cursor: every tick with a greater number first, then live ones, none twice (passed through); unsubscribing stops it upstream', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const c = channel();
    for (const item of ['p1', 'p2', 'p1']) ticks.publish(c, item);
    const fetches = subgraphFetches();
    const live = open(transport, PASS_THROUGH, { channel: c, after: 1 }, token);
    expect(await live.next()).toEqual({ data: passedTick(2, c) });
    expect(await live.next()).toEqual({ data: passedTick(3, c) });
    await until(() => ticks.active(c) === 1, 'live');
    ticks.publish(c, 'p2');
    expect(await live.next()).toEqual({ data: passedTick(4, c) });
    ticks.publish(c, 'p1');
    expect(await live.next()).toEqual({ data: passedTick(5, c) });
    expect(live.results.map((r) => (r.data as { tick: { n: number } }).tick.n)).toEqual([2, 3, 4, 5]);
    // Passed through: no other subgraph was asked anything.
    expect(fetches.since()).toEqual([]);

    live.stop();
    await until(() => ticks.active(c) === 0 && world.openUpstream(userId) === 0, 'the subgraph subscription stopped');
    expect(live.end?.kind).not.toBe('error');
    expect(live.untaken()).toEqual([]);
  });

  it('completes cleanly when the subgraph completes the subscription, passed through or per event', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const c = channel();
    const passed = open(transport, PASS_THROUGH, { channel: c }, token);
    const perEvent = open(transport, PER_EVENT, { channel: c }, token);
    await until(() => ticks.active(c) === 2, 'both subscribed');
    ticks.publish(c, 'p2');
    expect(await passed.next()).toEqual({ data: passedTick(1, c) });
    expect(await perEvent.next()).toEqual({ data: perEventTick(1, 'p2') });
    ticks.complete(c);
    expect(await passed.ended()).toEqual({ kind: 'complete' });
    expect(await perEvent.ended()).toEqual({ kind: 'complete' });
    expect([passed.untaken(), perEvent.untaken()]).toEqual([[], []]);
    await until(() => world.openUpstream(userId) === 0, 'nothing left upstream');
  });

  it('ends with UNAUTHENTICATED "Token expired" at the token\'s exp, and stops the subgraph subscription', async () => {
    const userId = crypto.randomUUID();
    const token = await world.shortLivedToken(userId, 3);
    const expiresAt = expOf(token) * 1000;
    const [a, b] = [channel(), channel()];
    const passed = open(transport, PASS_THROUGH, { channel: a }, token);
    const perEvent = open(transport, PER_EVENT, { channel: b }, token);
    await until(() => ticks.active(a) === 1 && ticks.active(b) === 1, 'both subscribed');
    ticks.publish(a, 'p1');
    ticks.publish(b, 'p1');
    expect(await passed.next()).toEqual({ data: passedTick(1, a) });
    expect(await perEvent.next()).toEqual({ data: perEventTick(1, 'p1') });

    for (const live of [passed, perEvent]) {
      const { errors, how } = await endErrors(live, 8_000);
      expect(errors).toEqual([{ message: 'Token expired', extensions: { code: 'UNAUTHENTICATED' } }]);
      // graphql-ws closes the socket (4401), Apollo's multipart protocol sends a fatal transport-level error, SSE a last result.
      expect(how).toBe({ 'graphql-ws': 'close 4401', multipart: 'protocol errors', sse: 'last result' }[transport]);
      expect(live.endedAt).toBeGreaterThanOrEqual(expiresAt);
      // At its exp, not at some later timeout (bounded generously: the suite runs on 2 loaded cores).
      expect(live.endedAt).toBeLessThan(expiresAt + 5_000);
    }
    await until(() => ticks.active(a) === 0 && ticks.active(b) === 0 && world.openUpstream(userId) === 0, 'the subgraph subscriptions stopped');
  });

  it('ends with SUBGRAPH_SUBSCRIPTION_FAILED when the subgraph connection drops', async () => {
    // A router whose ticker is an instance of its own, so it can be stopped.
    const own = await startSubgraph('ticker', world.issuer);
    const router = await world.router({}, { subgraphUrls: { ticker: own.url } });
    const token = await world.issuer.customer();
    const [a, b] = [channel(), channel()];
    const passed = open(transport, PASS_THROUGH, { channel: a }, token, { at: router.url });
    const perEvent = open(transport, PER_EVENT, { channel: b }, token, { at: router.url });
    await until(() => ticks.active(a) === 1 && ticks.active(b) === 1, 'both subscribed');
    await own.close();
    for (const live of [passed, perEvent]) {
      const { errors, how } = await endErrors(live);
      expect(errors).toEqual([{ message: expect.stringMatching(/^Subscription to subgraph "ticker" closed \(1001/), extensions: { code: 'SUBGRAPH_SUBSCRIPTION_FAILED', serviceName: 'ticker' } }]);
      expect(how).toBe({ 'graphql-ws': 'error message', multipart: 'protocol errors', sse: 'last result' }[transport]);
      expect(live.results.filter((r) => r.data != null)).toEqual([]);
    }
    expect([ticks.active(a), ticks.active(b)]).toEqual([0, 0]);
    await router.app.close();
  });
});

describe('router shutdown', () => {
  it('ends every subscription at once, on every transport, and everything upstream with it', async () => {
    const router = await world.router();
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const subscriptions = TRANSPORTS.flatMap((transport) => [PASS_THROUGH, PER_EVENT].map((query) => {
      const c = channel();
      return { c, live: open(transport, query, { channel: c }, token, { at: router.url }) };
    }));
    await until(() => subscriptions.every(({ c }) => ticks.active(c) === 1), 'all subscribed');
    const started = Date.now();
    const closing = router.app.close();
    for (const { live } of subscriptions) {
      const { errors, how } = await endErrors(live);
      // graphql-ws: 1001 "going away"; HTTP streams: SHUTTING_DOWN (resubscribe elsewhere, with `after`).
      if (live.transport === 'graphql-ws') expect({ how, errors }).toEqual({ how: 'close 1001', errors: [{ message: 'Server shutting down', extensions: { code: 'CLOSE_1001' } }] });
      else expect({ how, codes: errors.map((e) => e.extensions?.['code']) }).toEqual({ how: live.transport === 'multipart' ? 'protocol errors' : 'last result', codes: ['SHUTTING_DOWN'] });
      // Bounded, not timed: under a loaded test run only "promptly, not at some timeout" is asserted.
      expect(live.endedAt! - started).toBeLessThan(5_000);
    }
    await until(() => subscriptions.every(({ c }) => ticks.active(c) === 0) && world.openUpstream(userId) === 0, 'nothing left upstream');
    await closing;
  });
});

describe.each(TRANSPORTS)('%s: per-event authorization', (transport) => {
  it('refuses a customer another user\'s channel (the subgraph\'s FORBIDDEN) and staffTick (the router\'s), before any event; the own channel works', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const other = `user:${crypto.randomUUID()}`;
    ticks.publish(other, 'p1');

    const foreign = open(transport, PER_EVENT, { channel: other }, token);
    await expectRefused(foreign, 'FORBIDDEN', new RegExp(`^Channel ${other} belongs to another user$`));
    expect(ticks.active(other)).toBe(0);

    const operations = world.subgraphs.ticker.recorder.operations.length;
    const staff = open(transport, 'subscription { staffTick { __typename n } }', {}, token);
    const { how } = await expectRefused(staff, 'FORBIDDEN', /^Subscription\.staffTick requires scope staff$/);
    expectRouterRefusal(staff, how, 403);
    expect(world.subgraphs.ticker.recorder.operations.length).toBe(operations);
    expect(ticks.active('staff')).toBe(0);

    const own = `user:${userId}`;
    const mine = open(transport, PER_EVENT, { channel: own }, token);
    await until(() => ticks.active(own) === 1, 'subscribed to the own channel');
    ticks.publish(own, 'p2');
    expect(await mine.next()).toEqual({ data: perEventTick(1, 'p2') });
    mine.stop();
    await until(() => world.openUpstream(userId) === 0, 'stopped');
  });
});

describe('hostile documents: refused the same way on every transport, before anything runs', () => {
  const cases: [string, string, string, RegExp][] = [
    ['past the token cap', hostile.manyTokens(5_000), 'GRAPHQL_PARSE_FAILED', /more th[ae][nt] 2000 tokens/],
    ['depth 20', hostile.deep(20), 'GRAPHQL_VALIDATION_FAILED', /depth limit of 12 exceeded/],
    ['40 aliases', hostile.aliased(40), 'GRAPHQL_VALIDATION_FAILED', /Aliases limit of 30 exceeded/],
  ];

  describe.each(cases)('%s', (_name, document, code, message) => {
    it('over HTTP JSON: 400 with the code', async () => {
      const token = await world.issuer.customer();
      const requests = world.subgraphRequests();
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify({ query: document }) });
      expect(response.status).toBe(400);
      const body = (await response.json()) as Result;
      expect(body.errors?.map((e) => e.extensions?.['code'])).toContain(code);
      expect(body.errors?.map((e) => e.message)).toContainEqual(expect.stringMatching(message));
      expect(world.subgraphRequests()).toBe(requests);
    });

    it.each(TRANSPORTS)('over %s: refused with the code, nothing reaches the ticker', async (transport) => {
      const userId = crypto.randomUUID();
      const token = await world.issuer.customer(userId);
      const operations = world.subgraphs.ticker.recorder.operations.length;
      const live = open(transport, document, {}, token);
      const { how } = await expectRefused(live, code, message);
      expectRouterRefusal(live, how, 400);
      expect(world.subgraphs.ticker.recorder.operations.length).toBe(operations);
      expect(world.reachedTicker(userId)).toBe(false);
    });
  });

  it('an anonymous caller: UNAUTHENTICATED on every transport', async () => {
    const requests = world.subgraphRequests();
    const operations = world.subgraphs.ticker.recorder.operations.length;
    // Plain JSON serves no subscription at all; an operation that needs a signed-in caller is refused as one.
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ whoami }' }) });
    expect(response.status).toBe(401);
    expect(((await response.json()) as Result).errors?.map((e) => e.extensions?.['code'])).toEqual(['UNAUTHENTICATED']);
    const c = channel();
    for (const transport of TRANSPORTS) {
      const live = open(transport, PASS_THROUGH, { channel: c }, undefined);
      // graphql-ws: no anonymous connection (4401); HTTP: a subscription needs a signed-in caller.
      const { how } = await expectRefused(live, 'UNAUTHENTICATED', transport === 'graphql-ws' ? /connection_init needs/ : /Subscriptions need a signed-in user/);
      expectRouterRefusal(live, how, 401);
    }
    expect(ticks.active(c)).toBe(0);
    expect(world.subgraphs.ticker.recorder.operations.length).toBe(operations);
    expect(world.subgraphRequests()).toBe(requests);
  });

  it('a token that does not verify: UNAUTHENTICATED on every transport, with the reason', async () => {
    const operations = world.subgraphs.ticker.recorder.operations.length;
    const c = channel();
    for (const transport of TRANSPORTS) {
      const live = open(transport, PASS_THROUGH, { channel: c }, 'not-a-jwt');
      const { how } = await expectRefused(live, 'UNAUTHENTICATED', /malformed/);
      expectRouterRefusal(live, how, 401);
    }
    expect(ticks.active(c)).toBe(0);
    expect(world.subgraphs.ticker.recorder.operations.length).toBe(operations);
  });
});

describe('bad input over HTTP', () => {
  it('an Accept the router cannot serve: 406 listing the types it serves', async () => {
    const requests = world.subgraphRequests();
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/html' }, body: JSON.stringify({ query: '{ products { id } }' }) });
    expect(response.status).toBe(406);
    const body = (await response.json()) as Result;
    expect(body.errors).toEqual([{ message: expect.any(String), extensions: { code: 'NOT_ACCEPTABLE', accepts: expect.any(Array) } }]);
    const accepts = body.errors![0]!.extensions!['accepts'] as string[];
    expect(accepts).toEqual(expect.arrayContaining(['application/graphql-response+json', 'application/json', 'multipart/mixed;subscriptionSpec=1.0', 'text/event-stream']));
    for (const type of accepts) expect(body.errors![0]!.message).toContain(type);
    expect(world.subgraphRequests()).toBe(requests);
  });

  it('a subscription over plain JSON: 400 naming the transports that serve subscriptions', async () => {
    const token = await world.issuer.customer();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...bearer(token) },
      body: JSON.stringify({ query: PASS_THROUGH, variables: { channel: channel() } }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Result;
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]!.extensions).toEqual({ code: 'BAD_REQUEST' });
    for (const transport of [/WebSocket \(graphql-ws\)/, /multipart\/mixed;subscriptionSpec=1\.0/, /text\/event-stream/]) expect(body.errors![0]!.message).toMatch(transport);
  });
});

describe('automatic persisted queries (Apollo Client\'s persisted-queries link)', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  /** A query no other test sent, so its hash is unknown to the router at first. */
  const freshQuery = () => gql`query Product_${crypto.randomUUID().replaceAll('-', '')}($id: ID!) { product(id: $id) { __typename id name stock } }`;

  it('the first request sends the hash alone, gets PERSISTED_QUERY_NOT_FOUND and is retried with the text; the next sends the hash alone', async () => {
    const sent: Exchange[] = [];
    const client = apolloClient(ApolloLink.from([new PersistedQueryLink({ sha256 }), httpLink(undefined, recordingFetch(sent))]));
    const query = freshQuery();
    const expected = { product: ITEMS['p1'] };

    expect((await client.query({ query, variables: { id: 'p1' }, fetchPolicy: 'no-cache' })).data).toEqual(expected);
    expect(sent).toHaveLength(2);
    const [hashOnly, withText] = sent;
    const hash = hashOnly!.body.extensions.persistedQuery.sha256Hash as string;
    // No text, only the hash (and Apollo Client's own `clientLibrary` extension).
    expect(hashOnly!.body).toEqual({ operationName: expect.any(String), variables: { id: 'p1' }, extensions: { clientLibrary: expect.anything(), persistedQuery: { version: 1, sha256Hash: hash } } });
    expect({ status: hashOnly!.status, response: hashOnly!.response }).toEqual({ status: 200, response: { errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }] } });
    expect(withText!.body.extensions.persistedQuery).toEqual({ version: 1, sha256Hash: hash });
    expect(sha256(withText!.body.query)).toBe(hash);
    expect({ status: withText!.status, response: withText!.response }).toEqual({ status: 200, response: { data: expected } });

    expect((await client.query({ query, variables: { id: 'p1' }, fetchPolicy: 'no-cache' })).data).toEqual(expected);
    expect(sent).toHaveLength(3);
    expect(sent[2]!.body).toEqual(hashOnly!.body);
    expect({ status: sent[2]!.status, response: sent[2]!.response }).toEqual({ status: 200, response: { data: expected } });

    // Another client, hashed GETs (Apollo Client's content-type header is its CSRF preflight): the hash is known.
    const gets: Exchange[] = [];
    const viaGet = apolloClient(ApolloLink.from([new PersistedQueryLink({ sha256, useGETForHashedQueries: true }), httpLink(undefined, recordingFetch(gets))]));
    expect((await viaGet.query({ query, variables: { id: 'p1' }, fetchPolicy: 'no-cache' })).data).toEqual(expected);
    expect(gets.map((e) => [e.method, e.url.searchParams.has('query'), JSON.parse(e.url.searchParams.get('extensions')!).persistedQuery, e.status])).toEqual([['GET', false, { version: 1, sha256Hash: hash }, 200]]);
  });

  it('a hash that does not match its document: 400 PERSISTED_QUERY_HASH_MISMATCH, nothing registered or run', async () => {
    const sent: Exchange[] = [];
    const wrong = sha256('not the query');
    const client = apolloClient(ApolloLink.from([new PersistedQueryLink({ generateHash: () => wrong }), httpLink(undefined, recordingFetch(sent))]));
    const requests = world.subgraphRequests();
    const { error } = await client.query({ query: freshQuery(), variables: { id: 'p1' }, fetchPolicy: 'no-cache', errorPolicy: 'all' });
    expect(CombinedGraphQLErrors.is(error)).toBe(true);
    expect((error as CombinedGraphQLErrors).errors).toEqual([{ message: 'provided sha does not match query', extensions: { code: 'PERSISTED_QUERY_HASH_MISMATCH' } }]);
    expect(sent.map((e) => [e.body.query === undefined ? 'hash' : 'text', e.status])).toEqual([['hash', 200], ['text', 400]]);
    expect(world.subgraphRequests()).toBe(requests);
    // The wrong hash names nothing.
    const again = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: wrong } } }) });
    expect(((await again.json()) as Result).errors?.map((e) => e.extensions?.['code'])).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });

  it('an unsupported version: 400 PERSISTED_QUERY_VERSION_UNSUPPORTED', async () => {
    const query = '{ products { id } }';
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, extensions: { persistedQuery: { version: 2, sha256Hash: sha256(query) } } }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Result).errors?.map((e) => e.extensions?.['code'])).toEqual(['PERSISTED_QUERY_VERSION_UNSUPPORTED']);
  });

  it('works for a subscription over multipart: the link retries the unknown hash with the text, then events stream', async () => {
    const sent: Exchange[] = [];
    const token = await world.issuer.customer();
    const client = apolloClient(ApolloLink.from([new PersistedQueryLink({ sha256 }), httpLink(token, recordingFetch(sent))]));
    const c = channel();
    const results: unknown[] = [];
    const subscription = client.subscribe({ query: gql(PASS_THROUGH), variables: { channel: c }, fetchPolicy: 'no-cache' }).subscribe({ next: (result) => results.push(result) });
    await until(() => ticks.active(c) === 1, 'subscribed');
    ticks.publish(c, 'p1');
    await until(() => results.length === 1, 'an event');
    expect(results).toEqual([{ data: passedTick(1, c) }]);
    expect(sent.map((e) => [e.body.query === undefined ? 'hash' : 'text', e.status, e.contentType])).toEqual([
      ['hash', 200, 'application/graphql-response+json; charset=utf-8'],
      ['text', 200, 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0'],
    ]);
    subscription.unsubscribe();
    await until(() => ticks.active(c) === 0, 'stopped');
  });

  it('works over SSE: an unknown hash is refused in the stream, then the text registers it, then the hash alone runs', async () => {
    const token = await world.issuer.customer();
    const query = `subscription Sse_${crypto.randomUUID().replaceAll('-', '')}($channel: String!) { tick(channel: $channel) { n } }`;
    const persistedQuery = { version: 1, sha256Hash: sha256(query) };

    const unknown = open('sse', undefined as unknown as string, { channel: channel() }, token, { extensions: { persistedQuery } });
    expect((await endErrors(unknown)).errors).toEqual([{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }]);

    for (const text of [query, undefined]) {
      const c = channel();
      const live = open('sse', text as string, { channel: c }, token, { extensions: { persistedQuery } });
      await until(() => ticks.active(c) === 1, 'subscribed');
      ticks.publish(c, 'p1');
      expect(await live.next()).toEqual({ data: { tick: { n: 1 } } });
      live.stop();
      await until(() => ticks.active(c) === 0, 'stopped');
    }
  });
});

describe('queries over every transport give the same answer', () => {
  const QUERY = 'query Catalog($id: ID!) { whoami product(id: $id) { __typename id name stock } products { __typename id name } }';

  it('POST, GET (with a CSRF preflight header, or Apollo Client\'s GETs), SSE and graphql-ws', async () => {
    const userId = crypto.randomUUID();
    const token = await world.issuer.customer(userId);
    const variables = { id: 'p2' };
    const expected = { data: { whoami: userId, product: ITEMS['p2'], products: [{ __typename: 'Product', id: 'p1', name: 'Kettle' }, { __typename: 'Product', id: 'p2', name: 'Mug' }] } };

    const post = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify({ query: QUERY, variables }) });
    expect(post.status).toBe(200);
    expect(await post.json()).toEqual(expected);

    const search = new URLSearchParams({ query: QUERY, variables: JSON.stringify(variables) });
    const get = await fetch(`${url}?${search}`, { headers: { 'apollo-require-preflight': 'true', ...bearer(token) } });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual(expected);

    const gets: Exchange[] = [];
    const apollo = apolloClient(httpLink(token, recordingFetch(gets), { useGETForQueries: true }));
    expect(await apollo.query({ query: gql(QUERY), variables, fetchPolicy: 'no-cache' })).toEqual(expected);
    expect(gets.map((e) => [e.method, e.status])).toEqual([['GET', 200]]);

    for (const transport of ['sse', 'graphql-ws'] as const) {
      const live = open(transport, QUERY, variables, token);
      expect(await live.next()).toEqual(expected);
      expect(await live.ended()).toEqual({ kind: 'complete' });
      expect(live.untaken()).toEqual([]);
    }
  });

  it('a mutation over GET is refused (405) and runs nowhere', async () => {
    const staff = await world.issuer.staff();
    const requests = world.subgraphRequests();
    const search = new URLSearchParams({ query: 'mutation { setPrice(id: "p1", amount: 1) { id } }' });
    const response = await fetch(`${url}?${search}`, { headers: { 'apollo-require-preflight': 'true', ...bearer(staff) } });
    expect(response.status).toBe(405);
    expect(world.subgraphRequests()).toBe(requests);
  });
});

/** A streamed body read as it comes: its text so far, and a bounded wait for the text to satisfy a check. */
function streamedText(response: Response) {
  let text = '';
  let done = false;
  const waiters = new Set<() => void>();
  const wake = () => [...waiters].forEach((w) => w());
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true });
      wake();
    }
    done = true;
    wake();
  })();
  return {
    get text() {
      return text;
    },
    get done() {
      return done;
    },
    async until(check: (text: string) => boolean, what: string, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!check(text)) {
        const left = deadline - Date.now();
        if (left <= 0 || done) throw new Error(`${done ? 'the body ended' : `no ${what} within ${timeoutMs} ms`}; got ${JSON.stringify(text)}`);
        await new Promise<void>((resolve) => {
          const w = () => {
            clearTimeout(timer);
            waiters.delete(w);
            resolve();
          };
          const timer = setTimeout(w, left);
          waiters.add(w);
        });
      }
    },
  };
}

/** The bodies of the parts a multipart client can read so far: those closed by the next boundary (checking each part's headers). */
function multipartParts(text: string): unknown[] {
  const segments = text.split('\r\n--graphql');
  expect(segments[0]).toBe('');
  return segments.slice(1, -1).map((segment) => {
    const [headers, body] = segment.split('\r\n\r\n');
    expect(headers).toBe('\r\ncontent-type: application/json; charset=utf-8');
    return JSON.parse(body!) as unknown;
  });
}

describe('Apollo\'s multipart protocol on the wire', () => {
  it('a heartbeat part at once, each event readable as soon as it is sent (not at the next heartbeat), a closing boundary at the end', async () => {
    const token = await world.issuer.customer();
    const c = channel();
    const response = await fetch(url, {
      method: 'POST',
      // The header Apollo's protocol documents (subscriptionSpec quoted).
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0", application/json', ...bearer(token) },
      body: JSON.stringify({ query: PASS_THROUGH, variables: { channel: c } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec=1.0');
    const body = streamedText(response);
    // Heartbeats come every 5 s: these waits are shorter, so only a part sent at once passes.
    await body.until((text) => multipartParts(text).length === 1, 'first (heartbeat) part', 1_000);
    expect(multipartParts(body.text)).toEqual([{}]);
    await until(() => ticks.active(c) === 1, 'subscribed');
    ticks.publish(c, 'p1');
    await body.until((text) => multipartParts(text).length === 2, 'event part', 1_000);
    expect(multipartParts(body.text)).toEqual([{}, { payload: { data: passedTick(1, c) } }]);
    ticks.complete(c);
    await body.until((text) => text.endsWith('\r\n--graphql--\r\n'), 'closing boundary', 1_000);
    expect(multipartParts(body.text)).toEqual([{}, { payload: { data: passedTick(1, c) } }]);
  });
});
