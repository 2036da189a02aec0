import { connectWs, consumerOutcomes, createTestDatabase, createTestIssuer, graphql, observe, scrapeMetrics, serviceEnv, testLogger, type EventObserver, type TestIssuer } from '@shopgraph/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Orm } from '../src/db.ts';
import { messagingEntities, messagingMigrations, recordEvent, type BroadcastOutcome, type Runner } from '../src/messaging/index.ts';

import { runService, serviceConfig, type ServiceOptions } from '../src/service.ts';
import type { RequestContext, Service } from '../src/subgraph.ts';

interface Context extends RequestContext {
  token: string | null;
  greeting: string;
  register(name: string): Promise<string>;
}

const logger = testLogger('service-test');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let issuer: TestIssuer;
let observer: EventObserver;
const running: Service[] = [];

beforeAll(async () => {
  db = await createTestDatabase('service');
  issuer = await createTestIssuer();
  observer = await observe('account.user.v1');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((service) => service.close()));
});
afterAll(async () => {
  await observer?.close();
  await db?.drop();
});

/** How often the fixture's `@expensive` field ran. */
let digests = 0;

/** A service on the test database and broker whose resolvers show what the kit handed them. */
function options(overrides: Partial<ServiceOptions<Context, { greeting: string }>> = {}): ServiceOptions<Context, { greeting: string }> {
  return {
    name: 'accounts', // it records account events: their topic's owner (consumers refuse any other source)
    config: serviceConfig.parse(serviceEnv(db.url)),
    logger,
    verifier: issuer.verifier,
    schema: new URL('./service.fixture.graphql', import.meta.url),
    resolvers: {
      Query: { caller: (_source, _args, context: Context) => context.identity && { userId: context.identity.userId, token: context.token, greeting: context.greeting } },
      Caller: {
        digest: () => {
          digests++;
          return 'digest';
        },
      },
      Mutation: { register: (_source, args: { name: string }, context: Context) => context.register(args.name) },
    },
    entities: messagingEntities,
    migrations: [...messagingMigrations],
    setup: async () => ({ greeting: 'hello' }),
    context: ({ identity, token, em, setup }) => ({
      identity,
      token,
      greeting: setup.greeting,
      register: (name) =>
        em.transactional(async (tx) => {
          const userId = crypto.randomUUID();
          recordEvent(tx, 'account.user.registered', userId, { userId, email: `${userId}@example.test`, name });
          return userId;
        }),
    }),
    ...overrides,
  };
}

async function start(overrides: Partial<ServiceOptions<Context, { greeting: string }>> = {}): Promise<{ service: Service; url: string }> {
  const service = await runService(options(overrides));
  running.push(service);
  return { service, url: `${await service.listen(0)}/graphql` };
}

describe('runService', () => {
  it('serves the subgraph with what setup made, the verified token, and the events it records under its name', async () => {
    const consumed = consumerOutcomes();
    const { url } = await start({
      consumers: { echo: { 'account.user.registered': async () => {} } },
      onMessage: consumed.record,
    });
    const token = await issuer.customer('7c9e6679-7425-40de-944b-e07fc1f90ae7');
    const caller = await graphql(url, '{ caller { userId token greeting } }', {}, token);
    expect(caller.data).toEqual({ caller: { userId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', token, greeting: 'hello' } });
    expect((await graphql(url, '{ caller { userId } }')).data).toEqual({ caller: null });

    const sent = Date.now();
    const registered = await graphql(url, 'mutation { register(name: "Ada") }', {}, token);
    const userId = registered.data!['register'] as string;
    // Published by its relay, signed with its name, consumed by its consumer group `accounts.echo`.
    const [event] = await observer.waitFor((e) => e.envelope.subject === userId);
    expect(event!.envelope).toMatchObject({ type: 'account.user.registered', source: 'accounts', data: { userId, name: 'Ada' } });
    const [outcome] = await consumed.handled(event!.envelope);
    const waitedS = (Date.now() - sent) / 1000;
    expect(outcome).toMatchObject({ group: 'accounts.echo', result: 'processed' });
    // Its age from recorded to handled, in seconds: no longer than the test waited for it.
    expect(outcome!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(outcome!.ageSeconds).toBeLessThanOrEqual(waitedS);

    const ready = await fetch(new URL('/readyz', url));
    expect(await ready.json()).toEqual({ status: 'ready' });

    // What it did shows on /metrics, in Prometheus's text format.
    const metrics = await scrapeMetrics(url);
    const echo = { group: 'accounts.echo', service: 'accounts' };
    expect(metrics.value('shopgraph_consumer_messages_total', { ...echo, result: 'processed' })).toBe(1);
    expect(metrics.value('shopgraph_consumer_batch_seconds_count', echo)).toBe(1);
    expect(metrics.value('shopgraph_consumer_event_age_seconds_count', echo)).toBe(1);
    expect(metrics.value('shopgraph_consumer_event_age_seconds_sum', echo)).toBeCloseTo(outcome!.ageSeconds!, 6);
    expect(metrics.value('shopgraph_consumer_lag_messages', echo)).toBe(0);
    expect(metrics.value('shopgraph_outbox_published_total', { service: 'accounts' })).toBe(1);
    // What that cost the broker: the relay's produce request, the consumer's fetches and its group's upkeep.
    expect(metrics.value('shopgraph_kafka_requests_total', { service: 'accounts', api: 'Produce' })).toBeGreaterThanOrEqual(1);
    expect(metrics.value('shopgraph_kafka_requests_total', { service: 'accounts', api: 'Fetch' })).toBeGreaterThanOrEqual(1);
    expect(metrics.value('shopgraph_kafka_requests_total', { service: 'accounts', api: 'JoinGroup' })).toBeGreaterThanOrEqual(1);
    // The relay marks its last batch of a quiet spell at its next poll.
    await expect.poll(async () => (await scrapeMetrics(url)).value('shopgraph_outbox_backlog_messages', { service: 'accounts' }), { timeout: 5_000 }).toBe(0);
    expect(metrics.value('shopgraph_process_resident_memory_bytes', { service: 'accounts' })).toBeGreaterThan(0);
    expect(metrics.value('shopgraph_graphql_requests_total', { operation_type: 'mutation', result: 'ok' })).toBe(1);
    expect(metrics.value('shopgraph_graphql_request_seconds_count', { operation_type: 'query' })).toBe(2);
  });

  it('refuses a batched query that selects an @expensive field (400 BAD_REQUEST), running none of it; alone it runs', async () => {
    const { url } = await start();
    const token = await issuer.customer('7c9e6679-7425-40de-944b-e07fc1f90ae7');
    const post = (body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    const before = digests;
    const batched = await post([{ query: '{ caller { greeting } }' }, { query: '{ caller { digest } }' }]);
    expect(batched.status).toBe(400);
    const [, refused] = (await batched.json()) as Array<{ errors?: Array<{ extensions: { code: string } }> }>;
    expect(refused!.errors!.map((e) => e.extensions.code)).toEqual(['BAD_REQUEST']);
    expect(digests).toBe(before);
    expect((await graphql(url, '{ caller { digest } }', {}, token)).data).toEqual({ caller: { digest: 'digest' } });
    expect(digests).toBe(before + 1);
  });

  it('takes a batch of operations in one HTTP request, with one context for them all, and refuses a batch over LIMIT_MAX_BATCH_OPERATIONS', async () => {
    let contexts = 0;
    const base = options();
    const { url } = await start({
      config: serviceConfig.parse({ ...serviceEnv(db.url), LIMIT_MAX_BATCH_OPERATIONS: '3' }),
      context: (input) => {
        contexts++;
        return base.context(input);
      },
    });
    const token = await issuer.customer('7c9e6679-7425-40de-944b-e07fc1f90ae7');
    const post = (body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

    const batched = await post([{ query: '{ caller { userId } }' }, { query: '{ caller { greeting } }' }]);
    expect(batched.status).toBe(200);
    expect(await batched.json()).toEqual([{ data: { caller: { userId: '7c9e6679-7425-40de-944b-e07fc1f90ae7' } } }, { data: { caller: { greeting: 'hello' } } }]);
    expect(contexts).toBe(1);

    // One operation's refusal is its own: its neighbour answers (the status, shared, is the refusal's).
    const greetingAnd = async (query: string) => {
      const response = await post([{ query: '{ caller { greeting } }' }, { query }]);
      const [answered, refused] = (await response.json()) as Array<{ data?: unknown; errors?: Array<{ extensions: { code: string } }> }>;
      expect(answered).toEqual({ data: { caller: { greeting: 'hello' } } });
      return { status: response.status, codes: refused!.errors!.map((e) => e.extensions.code) };
    };
    expect(await greetingAnd('{ nope }')).toEqual({ status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] });
    // A mutation goes in a request of its own: in a batch it is refused, and does nothing.
    expect(await greetingAnd('mutation { register(name: "Batched") }')).toEqual({ status: 400, codes: ['BAD_REQUEST'] });
    expect(contexts).toBe(3);
    const outbox = new pg.Client({ connectionString: db.url });
    await outbox.connect();
    const { rows } = await outbox.query(`select count(*)::int as n from outbox_message where envelope->'data'->>'name' = 'Batched'`).finally(() => outbox.end());
    expect(rows[0].n).toBe(0);

    const tooMany = await post(Array.from({ length: 4 }, () => ({ query: '{ caller { userId } }' })));
    expect(tooMany.status).toBe(400);
    expect(await tooMany.text()).toContain('at most 3 operations');
    expect(contexts).toBe(3);
    const metrics = await scrapeMetrics(url);
    expect(metrics.value('shopgraph_graphql_http_requests_total')).toBe(3);
    expect(metrics.value('shopgraph_graphql_request_seconds_count', { operation_type: 'query' })).toBe(4);
  });

  it('with webSocket and broadcastConsumers: the schema over graphql-ws (the connection\'s token in the context), and every event fanned out', async () => {
    const outcomes: BroadcastOutcome[] = [];
    const names: string[] = [];
    const { url } = await start({
      webSocket: true,
      broadcastConsumers: { live: { 'account.user.registered': (event) => void names.push(event.data.name) } },
      onBroadcast: (outcome) => outcomes.push(outcome),
    });
    const token = await issuer.customer('9b2e1d3c-4f5a-4b6c-8d7e-0f1a2b3c4d5e');
    const client = await connectWs(url, { authorization: `Bearer ${token}` });
    client.subscribe('1', '{ caller { userId token greeting } }');
    expect((await client.takeFor('1')).payload).toEqual({ data: { caller: { userId: '9b2e1d3c-4f5a-4b6c-8d7e-0f1a2b3c4d5e', token, greeting: 'hello' } } });
    await client.close();

    await graphql(url, 'mutation { register(name: "Grace") }', {}, token);
    await expect.poll(() => names, { timeout: 20_000 }).toEqual(['Grace']);
    expect(outcomes).toEqual([expect.objectContaining({ group: expect.stringMatching(/^accounts\.live\.[0-9a-f]{12}$/), result: 'delivered' })]);
  });

  it('closes consumers and workers while HTTP and the database still answer, then the rest', async () => {
    let orm: Orm | undefined;
    const seenAtStop: string[] = [];
    const { service, url } = await start({
      setup: async (opened) => {
        orm = opened;
        return { greeting: 'hi' };
      },
      workers: [
        (): Runner => ({
          async stop() {
            seenAtStop.push(`http ${(await fetch(new URL('/healthz', url))).status}`);
            seenAtStop.push(`database ${await orm!.isConnected()}`);
          },
        }),
      ],
    });
    running.splice(running.indexOf(service), 1);
    await service.close();
    expect(seenAtStop).toEqual(['http 200', 'database true']);
    expect(await orm!.isConnected()).toBe(false);
    await expect(fetch(new URL('/healthz', url))).rejects.toThrow();
  });

  it('closes what it had started when start-up fails half-way, and rejects with the cause', async () => {
    let orm: Orm | undefined;
    const stopped: string[] = [];
    await expect(
      runService(
        options({
          setup: async (opened) => {
            orm = opened;
            return { greeting: 'hi' };
          },
          workers: [
            (): Runner => ({ stop: async () => void stopped.push('first worker') }),
            () => Promise.reject(new Error('second worker failed')),
          ],
        }),
      ),
    ).rejects.toThrow('second worker failed');
    expect(stopped).toEqual(['first worker']);
    expect(await orm!.isConnected()).toBe(false);
  });
});
