import { composeServices } from '@apollo/composition';
import {
  createSubgraph, defaultLimits, createLogger, ErrorCode, graphqlError, pushable,
  type Identity, type Pushable, type RequestContext, type Service, type Session,
} from '@shopgraph/kit';
import { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER, type TestIssuer } from '@shopgraph/testkit';
import { exportSPKI, importJWK, SignJWT, type JWTPayload } from 'jose';
import { parse } from 'graphql';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRouterApp, type RouterApp, type RouterDeps } from '../src/app.ts';
import { loadRouterConfig } from '../src/config.ts';

/**
 * Four tiny in-process Federation 2 subgraphs (kit `createSubgraph`, the production code path),
 * composed with @apollo/composition into a supergraph that routes to them, plus an issuer whose
 * JWKS is served over HTTP so routers verify tokens from a real JWKS URL. `ticker` also serves
 * subscriptions over graphql-ws (on the same port and path), as an event-publishing subgraph does.
 */

const FEDERATION = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@authenticated", "@requiresScopes"])';

export const SDL = {
  products: `${FEDERATION}
    type Query { products: [Product!]! product(id: ID!): Product }
    type Mutation { setPrice(id: ID!, amount: Int!): Product @requiresScopes(scopes: [["staff"]]) }
    type Product @key(fields: "id") {
      id: ID!
      name: String!
      price: Int!
      "What the shop paid: staff only."
      cost: Int! @requiresScopes(scopes: [["staff"]])
    }`,
  inventory: `${FEDERATION}
    type Product @key(fields: "id") { id: ID! stock: Int! }`,
  accounts: `${FEDERATION}
    type Query {
      "The verified caller's user id, as this subgraph sees it."
      whoami: String @authenticated
      ping: String!
    }`,
  ticker: `${FEDERATION}
    type Query {
      "Ticks published so far on a channel."
      tickCount(channel: String! = "public"): Int!
    }
    type Subscription {
      "Ticks on a channel (those after \`after\` first). A \`user:<id>\` channel is that user's alone."
      tick(channel: String! = "public", after: Int): Tick!
      "Ticks on the staff channel."
      staffTick: Tick! @requiresScopes(scopes: [["staff"]])
    }
    type Tick {
      n: Int!
      channel: String!
      "An entity whose other fields live in other subgraphs."
      item: Product!
      previous: Tick
    }
    type Product @key(fields: "id", resolvable: false) { id: ID! }`,
} as const;

export type SubgraphName = keyof typeof SDL;

/** What one subgraph saw: every GraphQL request's headers, the identity it verified, readiness probes. */
export interface Recorder {
  requests: { headers: IncomingHttpHeaders; identity: Identity | null }[];
  readinessProbes: number;
  connections: number;
  /** graphql-ws connections it accepted (each with its current token), and the contexts built on them (one per operation, and one per event of a subscription). */
  sessions: Session[];
  operations: { authorization: string; userId: string }[];
}

export interface TestSubgraph {
  name: SubgraphName;
  service: Service;
  url: string;
  recorder: Recorder;
  /** Closes its WebSocket connections, then the service. */
  close(): Promise<void>;
}

export interface TickEvent {
  n: number;
  channel: string;
  itemId: string;
}

/**
 * The ticker's in-process event source: `publish` numbers events per channel, and each subscriber
 * stream replays those after its cursor, then gets live ones. `active` counts open streams, so tests
 * see a subscription really stop at the source.
 */
export const ticks = {
  published: new Map<string, TickEvent[]>(),
  streams: new Map<string, Set<Pushable<TickEvent>>>(),
  publish(channel: string, itemId: string): TickEvent {
    const log = this.published.get(channel) ?? [];
    this.published.set(channel, log);
    const event = { n: log.length + 1, channel, itemId };
    log.push(event);
    for (const stream of this.streams.get(channel) ?? []) stream.push(event);
    return event;
  },
  subscribe(channel: string, after?: number): AsyncIterableIterator<TickEvent> {
    const streams = this.streams.get(channel) ?? new Set();
    this.streams.set(channel, streams);
    const stream: Pushable<TickEvent> = pushable<TickEvent>({ onReturn: () => streams.delete(stream) });
    if (after !== undefined) for (const event of this.published.get(channel) ?? []) if (event.n > after) stream.push(event);
    streams.add(stream);
    return stream.iterator;
  },
  /** Ends every stream of a channel, as a source does when there will be no more events. */
  complete(channel: string): void {
    for (const stream of this.streams.get(channel) ?? []) stream.end();
    this.streams.delete(channel);
  },
  active(channel: string): number {
    return this.streams.get(channel)?.size ?? 0;
  },
};

const products = [
  { id: 'p1', name: 'Kettle', price: 3_000, cost: 1_200 },
  { id: 'p2', name: 'Mug', price: 900, cost: 300 },
];
const stock: Record<string, number> = { p1: 7, p2: 0 };
export const resolverCalls = { setPrice: 0 };

const resolvers = {
  products: {
    Query: { products: () => products, product: (_: unknown, { id }: { id: string }) => products.find((p) => p.id === id) ?? null },
    Mutation: {
      setPrice: (_: unknown, { id, amount }: { id: string; amount: number }) => {
        resolverCalls.setPrice++;
        const product = products.find((p) => p.id === id);
        if (product) product.price = amount;
        return product ?? null;
      },
    },
    Product: { __resolveReference: ({ id }: { id: string }) => products.find((p) => p.id === id) ?? null },
  },
  inventory: {
    Product: { __resolveReference: ({ id }: { id: string }) => ({ id, stock: stock[id] ?? 0 }) },
  },
  accounts: {
    Query: { whoami: (_: unknown, __: unknown, context: RequestContext) => context.identity?.userId ?? null, ping: () => 'pong' },
  },
  ticker: {
    Query: { tickCount: (_: unknown, { channel }: { channel: string }) => ticks.published.get(channel)?.length ?? 0 },
    Subscription: {
      tick: {
        subscribe: (_: unknown, { channel, after }: { channel: string; after?: number | null }, context: RequestContext) => {
          const owner = /^user:(.+)$/.exec(channel)?.[1];
          if (owner && owner !== context.identity?.userId) throw graphqlError(ErrorCode.FORBIDDEN, `Channel ${channel} belongs to another user`);
          return ticks.subscribe(channel, after ?? undefined);
        },
        resolve: (event: TickEvent) => event,
      },
      staffTick: { subscribe: () => ticks.subscribe('staff'), resolve: (event: TickEvent) => event },
    },
    Tick: {
      item: (tick: TickEvent) => ({ id: tick.itemId }),
      previous: (tick: TickEvent) => (tick.n > 1 ? { ...tick, n: tick.n - 1 } : null),
    },
  },
};

/** Subgraphs that also serve subscriptions over graphql-ws. */
const SUBSCRIPTIONS: ReadonlySet<SubgraphName> = new Set(['ticker']);

export async function startSubgraph(name: SubgraphName, issuer: TestIssuer): Promise<TestSubgraph> {
  const recorder: Recorder = { requests: [], readinessProbes: 0, connections: 0, sessions: [], operations: [] };
  const typeDefs = parse(SDL[name]);
  const service = await createSubgraph<RequestContext>({
    name,
    typeDefs,
    resolvers: resolvers[name] as never,
    verifier: issuer.verifier,
    limits: defaultLimits,
    logger: createLogger(name, 'silent'),
    production: false,
    readiness: { probe: async () => void recorder.readinessProbes++ },
    // What a subgraph serving subscriptions does: the same schema, guarded the same way, over
    // graphql-ws on the same server, the caller's identity verified from connection_init.
    webSocket: SUBSCRIPTIONS.has(name) ? { onSession: (session) => void recorder.sessions.push(session) } : false,
    context: (identity, req, session) => {
      if (session) recorder.operations.push({ authorization: session.authorization, userId: session.identity.userId });
      else recorder.requests.push({ headers: req!.headers, identity });
      return { identity };
    },
  });
  service.server.on('connection', () => recorder.connections++);
  const url = `${await service.listen(0)}/graphql`;
  return { name, service, url, recorder, close: () => service.close() };
}

export function compose(subgraphs: TestSubgraph[]): string {
  const result = composeServices(subgraphs.map((s) => ({ name: s.name, typeDefs: parse(SDL[s.name]), url: s.url })));
  if (result.errors) throw new Error(`composition failed: ${result.errors.map((e) => e.message).join('; ')}`);
  return result.supergraphSdl;
}

/** Serves the issuer's public keys the way the accounts subgraph does in production. */
export async function serveJwks(issuer: TestIssuer): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(issuer.jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`, server };
}

export interface World {
  issuer: TestIssuer;
  jwksUrl: string;
  subgraphs: Record<SubgraphName, TestSubgraph>;
  supergraphSdl: string;
  /** Starts a router on port 0 over the world's supergraph; env entries override the test defaults. */
  router(env?: Record<string, string>, deps?: Partial<RouterDeps>): Promise<{ app: RouterApp; url: string; base: string }>;
  /** All GraphQL requests the subgraphs have received so far. */
  subgraphRequests(): number;
  /** The ticker's subscriptions (from routers, each with its user's token) for one user that are still open. */
  openUpstream(userId: string): number;
  /** Whether a router ever subscribed to the ticker as this user. */
  reachedTicker(userId: string): boolean;
  /** A customer token for `userId` that expires in `ttlSeconds` (to watch a subscription end at its `exp`). */
  shortLivedToken(userId: string, ttlSeconds: number): Promise<string>;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const issuer = await createTestIssuer();
  const jwks = await serveJwks(issuer);
  const started = await Promise.all((Object.keys(SDL) as SubgraphName[]).map((name) => startSubgraph(name, issuer)));
  const subgraphs = Object.fromEntries(started.map((s) => [s.name, s])) as Record<SubgraphName, TestSubgraph>;
  const supergraphSdl = compose(started);
  const routers: Service[] = [];
  return {
    issuer,
    jwksUrl: jwks.url,
    subgraphs,
    supergraphSdl,
    async router(env = {}, deps = {}) {
      const config = loadRouterConfig({
        NODE_ENV: 'test', LOG_LEVEL: 'silent', PORT: '0',
        JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE, JWT_JWKS_URL: jwks.url, JWT_ALGORITHMS: 'ES256', JWT_CLOCK_TOLERANCE_S: '5',
        ...env,
      });
      const app = await createRouterApp({ config, logger: createLogger('router', 'silent'), supergraphSdl, ...deps });
      routers.push(app);
      const base = await app.listen(0);
      return { app, base, url: `${base}/graphql` };
    },
    subgraphRequests: () => started.reduce((n, s) => n + s.recorder.requests.length, 0),
    openUpstream: (userId) => subgraphs.ticker.recorder.sessions.filter((s) => !s.closed && s.identity.userId === userId).length,
    reachedTicker: (userId) => subgraphs.ticker.recorder.sessions.some((s) => s.identity.userId === userId),
    shortLivedToken: (userId, ttlSeconds) => signWithIssuerKey(issuer, claims({ sub: userId, exp: now() + ttlSeconds })),
    async close() {
      await Promise.all(routers.map((r) => r.close()));
      await Promise.all(started.map((s) => s.close()));
      await new Promise((resolve) => jwks.server.close(resolve));
    },
  };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** Seconds since the epoch, as JWT claims count time. */
export const now = (): number => Math.floor(Date.now() / 1000);

/** Claims a valid customer token would carry; override any to build a bad one. */
export function claims(overrides: JWTPayload = {}): JWTPayload {
  const t = now();
  return { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: 'user-1', scope: 'customer', iat: t, nbf: t, exp: t + 300, ...overrides };
}

/** Signs arbitrary claims with the test issuer's own key (so only the claims make it bad). */
export async function signWithIssuerKey(issuer: TestIssuer, payload: JWTPayload): Promise<string> {
  const { kid, alg } = issuer.privateJwk;
  return new SignJWT(payload).setProtectedHeader({ alg: alg!, kid: kid!, typ: 'JWT' }).sign(await importJWK(issuer.privateJwk, alg!));
}

/** An unsigned token (`alg: none`), crafted by hand since jose refuses to make one. */
export function unsignedToken(issuer: TestIssuer): string {
  return `${base64url({ alg: 'none', typ: 'JWT', kid: issuer.privateJwk.kid })}.${base64url(claims({ scope: 'customer staff' }))}.`;
}

/** The algorithm-confusion attack: HS256 with the issuer's public key (PEM) as the HMAC secret. */
export async function hmacWithPublicKey(issuer: TestIssuer): Promise<string> {
  const publicJwk = issuer.jwks.keys[0]!;
  const pem = await exportSPKI(await importJWK(publicJwk, publicJwk.alg!, { extractable: true }) as Parameters<typeof exportSPKI>[0]);
  return new SignJWT(claims({ scope: 'customer staff' }))
    .setProtectedHeader({ alg: 'HS256', kid: publicJwk.kid!, typ: 'JWT' })
    .sign(new TextEncoder().encode(pem));
}

/** Polls until `check` holds (or fails with `what`). */
export async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A ticker channel no other test uses. */
export const channel = (): string => `c-${crypto.randomUUID()}`;


/** A subscription whose events are completed with fields of two other subgraphs (per-event execution). */
export const TICK = 'subscription($channel: String!) { tick(channel: $channel) { n channel item { id name price stock } } }';

/** Hostile subscription documents, as every transport must refuse them before anything runs. */
export const hostile = {
  /** `previous { … }` nested `depth` times. */
  deep: (depth: number): string => `subscription { tick { ${'previous { '.repeat(depth)}n${' }'.repeat(depth)} } }`,
  /** `count` aliases of one field. */
  aliased: (count: number): string => `subscription { tick { ${Array.from({ length: count }, (_, i) => `a${i}: n`).join(' ')} } }`,
  /** One field selected `count` times. */
  manyTokens: (count: number): string => `subscription { tick { ${'n '.repeat(count)}} }`,
};
