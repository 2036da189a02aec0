// Hostile traffic, the same on every transport: memory stays bounded under many distinct legal
// documents, rate limits on real Redis (per IP, per user; fail open when Redis is away), per-user
// quotas on WebSocket connections and live subscriptions. Every refusal has a stable code and the
// router keeps serving.
import { bearer, connectWs, outageProxy, redisUrl, scrapeMetrics, subscribeOver, uniqueRedisKeyPrefix, type Outage, type WsTestClient } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channel, startWorld, until, type World } from './harness.ts';

let world: World;
const sockets: WsTestClient[] = [];
let outage: Outage | undefined;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  await world?.close();
  await outage?.close();
});

interface Answer {
  status: number;
  codes: string[];
  retryAfter: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(url: string, query: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as Answer['body'];
  return { status: response.status, codes: (body.errors ?? []).map((e) => String(e.extensions?.['code'])), retryAfter: response.headers.get('retry-after'), body };
}

/** A valid query of about `bytes` bytes, distinct per `seed`, padded with comment lines and blanks. */
const padded = (seed: number, bytes: number) => `${'#\n'.repeat(Math.floor(bytes / 4))}${' '.repeat(Math.floor(bytes / 2))}{ product(id: "p${seed}") { id name } }`;

const wsSubscribe = async (client: WsTestClient, id: string, query: string, variables?: Record<string, unknown>) => {
  client.subscribe(id, query, variables);
  return client.takeFor(id);
};

describe('memory stays bounded under many distinct legal-sized documents', () => {
  it('keeps the document and plan caches under their byte bounds, and refuses documents over LIMIT_MAX_DOCUMENT_BYTES', async () => {
    const documentBound = 2 * 1024 * 1024;
    const planBound = 2 * 1024 * 1024;
    // New documents are budgeted too (below): not what this test is about.
    const { app, url } = await world.router({ DOCUMENT_CACHE_BYTES: String(documentBound), PLAN_CACHE_BYTES: String(planBound), LIMIT_NEW_DOCUMENTS_ANONYMOUS_PER_S: '1000' });
    for (let i = 0; i < 300; i++) {
      const answer = await post(url, padded(i, 30 * 1024));
      expect(answer.status).toBe(200);
      const { documents, plans } = app.cacheStats();
      expect(documents.bytes).toBeLessThanOrEqual(documentBound);
      expect(plans.bytes).toBeLessThanOrEqual(planBound);
    }
    const { documents, plans } = app.cacheStats();
    // Both filled up and evicted (300 documents of 30 KiB would be over 9 MB of text alone).
    expect(documents.bytes).toBeGreaterThan(documentBound / 2);
    expect(documents.entries).toBeLessThan(300);
    expect(plans.entries).toBeLessThan(300);
    expect([documents.maxBytes, plans.maxBytes]).toEqual([documentBound, planBound]);

    const tooLarge = await post(url, padded(0, 40 * 1024));
    expect(tooLarge).toMatchObject({ status: 413, codes: ['DOCUMENT_TOO_LARGE'] });
    const client = await connectWs(url, bearer(await world.issuer.customer()));
    sockets.push(client);
    const refused = await wsSubscribe(client, 'big', padded(0, 40 * 1024));
    expect(refused).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'DOCUMENT_TOO_LARGE' } }] });
    expect((await wsSubscribe(client, 'small', '{ products { id } }')).type).toBe('next');
    expect((await post(url, '{ products { id } }')).status).toBe(200);
    expect((await scrapeMetrics(new URL(url).origin)).value('shopgraph_router_refusals_total', { reason: 'DOCUMENT_TOO_LARGE' })).toBe(2);
  });
});

describe('a budget for documents the router has not seen', () => {
  it('refuses new documents past the anonymous budget with 429 TOO_MANY_NEW_DOCUMENTS before parsing them, serves known ones, and gives each user a budget of its own', async () => {
    const { url } = await world.router({ LIMIT_NEW_DOCUMENTS_ANONYMOUS_PER_S: '1', LIMIT_NEW_DOCUMENTS_PER_USER_PER_S: '1' });
    // 10 s' worth saved up: ten new documents, then the budget refills at one per second.
    const known = '{ products { id } }';
    expect((await post(url, known)).status).toBe(200);
    for (let i = 1; i < 10; i++) expect((await post(url, padded(i, 1024))).status).toBe(200);
    const refused = await post(url, padded(10, 1024));
    expect(refused).toMatchObject({ status: 429, codes: ['TOO_MANY_NEW_DOCUMENTS'] });
    expect(refused.body.errors![0]!.extensions).toMatchObject({ retryAfter: 1 });
    // Not parsed: a broken document is refused the same way, not as a parse failure.
    expect((await post(url, '{ products { id ')).codes).toEqual(['TOO_MANY_NEW_DOCUMENTS']);
    // What the router knows costs nothing of the budget.
    expect((await post(url, known)).status).toBe(200);
    expect((await post(url, padded(3, 1024))).status).toBe(200);
    // A signed-in user draws on a budget of its own, on every transport.
    const token = await world.issuer.customer();
    expect((await post(url, padded(11, 1024), { authorization: `Bearer ${token}` })).status).toBe(200);
    const client = await connectWs(url, bearer(token));
    sockets.push(client);
    for (let i = 12; i < 21; i++) await wsSubscribe(client, `q${i}`, padded(i, 1024));
    expect(await wsSubscribe(client, 'over', padded(21, 1024))).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'TOO_MANY_NEW_DOCUMENTS' } }] });
    // Refilled after a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await post(url, padded(22, 1024))).status).toBe(200);
    expect((await scrapeMetrics(new URL(url).origin)).value('shopgraph_router_refusals_total', { reason: 'TOO_MANY_NEW_DOCUMENTS' })).toBe(3);
  });
});

describe('rate limits on Redis', () => {
  // A check served unchecked for a slow answer would make a limit look broken on a loaded machine: 2 s, not 200 ms.
  const redisEnv = (limits: Record<string, string>) => ({ REDIS_URL: redisUrl(), REDIS_KEY_PREFIX: uniqueRedisKeyPrefix(), RATE_LIMIT_WINDOW_S: '60', RATE_LIMIT_CHECK_TIMEOUT_MS: '2000', ...limits });

  it('per client IP: 429 with Retry-After and RATE_LIMITED once the window is full, X-Forwarded-For ignored unless trusted', async () => {
    const { url } = await world.router(redisEnv({ RATE_LIMIT_PER_IP: '5' }));
    for (let i = 0; i < 5; i++) expect((await post(url, '{ products { id } }', { 'x-forwarded-for': `10.0.0.${i}` })).status).toBe(200);
    const limited = await post(url, '{ products { id } }', { 'x-forwarded-for': '10.0.0.99' });
    expect(limited).toMatchObject({ status: 429, codes: ['RATE_LIMITED'] });
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(120);
    expect(limited.body.errors?.[0]?.extensions?.['retryAfter']).toBe(Number(limited.retryAfter));
    // A bad token does not get around it either.
    expect((await post(url, '{ products { id } }', { authorization: 'Bearer nonsense' })).status).toBe(429);
    const metrics = await scrapeMetrics(new URL(url).origin);
    expect(metrics.value('shopgraph_router_refusals_total', { reason: 'RATE_LIMITED' })).toBe(2);
    expect(metrics.value('shopgraph_router_rate_limit_checks_total', { result: 'limited' })).toBe(2);
  });

  it('per client IP behind a trusted proxy: the forwarded address is the client', async () => {
    const { url } = await world.router(redisEnv({ RATE_LIMIT_PER_IP: '2', TRUST_PROXY_HOPS: '1' }));
    const from = (ip: string) => post(url, '{ products { id } }', { 'x-forwarded-for': `6.6.6.6, ${ip}` });
    expect((await from('10.1.0.1')).status).toBe(200);
    expect((await from('10.1.0.1')).status).toBe(200);
    expect((await from('10.1.0.1')).status).toBe(429);
    // Another client behind the same proxy (the spoofable leftmost entry the same) is not affected.
    expect((await from('10.1.0.2')).status).toBe(200);
  });

  it('tells subgraphs the client address it found, as the one X-Forwarded-For entry (what their own per-IP limits read)', async () => {
    const { url } = await world.router({ TRUST_PROXY_HOPS: '1' });
    const seen = () => world.subgraphs.accounts.recorder.requests.at(-1)?.headers['x-forwarded-for'];
    expect((await post(url, '{ ping }', { 'x-forwarded-for': '6.6.6.6, 10.3.0.1' })).status).toBe(200);
    expect(seen()).toBe('10.3.0.1');
    const direct = await world.router();
    expect((await post(direct.url, '{ ping }', { 'x-forwarded-for': '6.6.6.6' })).status).toBe(200);
    expect(seen()).toMatch(/127\.0\.0\.1$/);
  });

  it('per user, from any IP, on HTTP and WebSocket alike; the WebSocket connection stays', async () => {
    const { url } = await world.router(redisEnv({ RATE_LIMIT_PER_IP: '1000', RATE_LIMIT_PER_USER: '3', TRUST_PROXY_HOPS: '1' }));
    const user = crypto.randomUUID();
    const token = await world.issuer.customer(user);
    for (let i = 0; i < 2; i++) expect((await post(url, '{ products { id } }', { authorization: `Bearer ${token}`, 'x-forwarded-for': `10.2.0.${i}` })).status).toBe(200);
    const client = await connectWs(url, bearer(token));
    sockets.push(client);
    expect((await wsSubscribe(client, 'one', '{ products { id } }')).type).toBe('next');
    await client.takeFor('one'); // complete
    const refused = await wsSubscribe(client, 'two', '{ products { id } }');
    expect(refused).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED' } }] });
    expect((await post(url, '{ products { id } }', { authorization: `Bearer ${token}`, 'x-forwarded-for': '10.2.0.9' })).codes).toEqual(['RATE_LIMITED']);
    // Still connected; others are served.
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    expect((await post(url, '{ products { id } }', { authorization: `Bearer ${await world.issuer.customer()}`, 'x-forwarded-for': '10.2.0.9' })).status).toBe(200);
    expect((await post(url, '{ products { id } }', { 'x-forwarded-for': '10.2.0.9' })).status).toBe(200);
  });

  it('per second too: a burst past RATE_LIMIT_BURST_PER_USER is refused though the minute has room, for about a second; staff are counted by address only', async () => {
    const { url } = await world.router(redisEnv({ RATE_LIMIT_PER_USER: '1000', RATE_LIMIT_BURST_PER_USER: '3', TRUST_PROXY_HOPS: '1' }));
    const as = async (token: string, i: number) => post(url, '{ products { id } }', { authorization: `Bearer ${token}`, 'x-forwarded-for': `10.4.0.${i}` });
    const customer = await world.issuer.customer('burst-customer');
    // Within one second of Redis's clock (this host's): across a boundary, the sliding window weighs
    // the earlier requests by the part of the last second still in it, and lets a fourth through.
    await new Promise((resolve) => setTimeout(resolve, 1_005 - (Date.now() % 1_000)));
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await as(customer, i));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[3]).toMatchObject({ codes: ['RATE_LIMITED'] });
    // A sliding one-second window lets one more through within two windows at most.
    const retryAfter = Number(answers[3]!.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1_000 + 100));
    expect((await as(customer, 9)).status).toBe(200);
    const staff = await world.issuer.staff('burst-staff');
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await as(staff, 20 + i)).status);
    expect(statuses).toEqual(Array(10).fill(200));
  });

  it('fails open: with Redis away every operation is served (but from a client refused until its Retry-After), and the unchecked ones counted', async () => {
    outage = await outageProxy(redisUrl());
    // Redis slow to answer as the router starts: the router waits for it before serving, so it counts from the first operation.
    outage.blackhole();
    setTimeout(() => outage?.restore(), 300);
    const { url } = await world.router({ ...redisEnv({ RATE_LIMIT_PER_IP: '2', TRUST_PROXY_HOPS: '1' }), REDIS_URL: outage.url });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    let statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(url, '{ products { id } }', from('10.3.0.1'))).status);
    expect(statuses).toEqual([200, 200, 429]);
    outage.cut();
    statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await post(url, '{ products { id } }', from(`10.3.1.${i}`))).status);
    expect(statuses).toEqual(Array(10).fill(200));
    // The refused client's window is known without Redis: it stays refused.
    expect(await post(url, '{ products { id } }', from('10.3.0.1'))).toMatchObject({ status: 429, codes: ['RATE_LIMITED'] });
    const metrics = await scrapeMetrics(new URL(url).origin);
    expect(metrics.value('shopgraph_router_rate_limit_checks_total', { result: 'unavailable' })).toBeGreaterThanOrEqual(10);
    expect((await fetch(`${new URL(url).origin}/readyz`)).status).toBe(200);
  });

  it('a router whose Redis is away when it starts still starts (within seconds) and serves, unchecked', async () => {
    outage = await outageProxy(redisUrl());
    outage.cut();
    const started = performance.now();
    const { url } = await world.router({ ...redisEnv({ RATE_LIMIT_PER_IP: '1' }), REDIS_URL: outage.url });
    expect(performance.now() - started).toBeLessThan(10_000);
    for (let i = 0; i < 3; i++) expect((await post(url, '{ products { id } }')).status).toBe(200);
    expect((await scrapeMetrics(new URL(url).origin)).value('shopgraph_router_rate_limit_checks_total', { result: 'unavailable' })).toBe(3);
  });
});

describe('per-user quotas on WebSocket connections and live subscriptions', () => {
  const SUBSCRIPTION = 'subscription($channel: String!) { tick(channel: $channel) { n } }';

  it('closes a user\'s connection beyond LIMIT_MAX_WS_CONNECTIONS_PER_USER with 4029; other users connect', async () => {
    const { app, url } = await world.router({ LIMIT_MAX_WS_CONNECTIONS_PER_USER: '2' });
    const token = await world.issuer.customer();
    const first = await connectWs(url, bearer(token));
    const second = await connectWs(url, bearer(token));
    sockets.push(first, second);
    expect([first.ack?.type, second.ack?.type]).toEqual(['connection_ack', 'connection_ack']);
    const third = await connectWs(url, bearer(token));
    expect(third.ack).toBeUndefined();
    expect(await third.closed).toMatchObject({ code: 4029, reason: expect.stringMatching(/^TOO_MANY_CONNECTIONS/) });
    const other = await connectWs(url, bearer(await world.issuer.customer()));
    sockets.push(other);
    expect(other.ack?.type).toBe('connection_ack');
    // A closed one frees its place.
    await first.close();
    await until(() => app.webSocketStats().connections === 2, 'the first connection is gone');
    const again = await connectWs(url, bearer(token));
    sockets.push(again);
    expect(again.ack?.type).toBe('connection_ack');
    expect((await scrapeMetrics(new URL(url).origin)).value('shopgraph_router_refusals_total', { reason: 'TOO_MANY_CONNECTIONS' })).toBe(1);
  });

  it('refuses a user\'s subscription beyond LIMIT_MAX_SUBSCRIPTIONS_PER_USER on every transport, TOO_MANY_SUBSCRIPTIONS; other users subscribe', async () => {
    const { url } = await world.router({ LIMIT_MAX_SUBSCRIPTIONS_PER_USER: '2' });
    const user = crypto.randomUUID();
    const token = await world.issuer.customer(user);
    const c = channel();
    const client = await connectWs(url, bearer(token));
    sockets.push(client);
    client.subscribe('a', SUBSCRIPTION, { channel: c });
    const overSse = subscribeOver('sse', url, SUBSCRIPTION, { channel: c }, token);
    await until(() => world.openUpstream(user) === 2, 'two subscriptions are live');

    expect(await wsSubscribe(client, 'b', SUBSCRIPTION, { channel: c })).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }] });
    const overMultipart = subscribeOver('multipart', url, SUBSCRIPTION, { channel: c }, token);
    await overMultipart.ended();
    expect(overMultipart.http?.status).toBe(429);
    // Apollo Client reports a refusal answered as JSON as a result with errors.
    expect(overMultipart.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.['code'])).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
    expect(client.socket.readyState).toBe(client.socket.OPEN);

    const other = crypto.randomUUID();
    const someoneElse = subscribeOver('graphql-ws', url, SUBSCRIPTION, { channel: c }, await world.issuer.customer(other));
    await until(() => world.openUpstream(other) === 1, 'another user subscribed');

    // Ending one frees its place.
    overSse.stop();
    await until(() => world.openUpstream(user) === 1, 'the SSE subscription ended');
    client.subscribe('c', SUBSCRIPTION, { channel: c });
    await until(() => world.openUpstream(user) === 2, 'a new subscription is live');
    someoneElse.stop();
    expect((await scrapeMetrics(new URL(url).origin)).value('shopgraph_router_refusals_total', { reason: 'TOO_MANY_SUBSCRIPTIONS' })).toBe(2);
  });
});
