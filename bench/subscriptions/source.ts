// The event source of the subscription bench: order status changes from a generator (instead of
// Kafka), served three ways from one process:
//   graphql-ws (its own port) the plain graphql-ws baseline: the orders schema on graphql-ws's
//             `useServer` with graphql-js, the token verified at connection_init.
//   kit       (/graphql) the orders subgraph's real SDL served by the kit like every subgraph
//             (createSubgraph: token verification, limits, a fresh context and graphql-js execution
//             per event per subscriber).
//   canned    (its own port) the orders subgraph as the router sees it, canned like bench:router's
//             subgraphs so it is never the bottleneck: graphql-ws protocol, every event a
//             precomputed answer to the bench's selection, no execution.
// Driven over IPC by bench/subscriptions.ts:
//   { type: 'emit', rate, seconds }  `rate` changes per second, round-robin over the orders being
//                                    watched, each stamped with its emission time (`at`), so clients
//                                    measure event→client latency; answers { type: 'emitted', count }
//   { type: 'stats' }                answers { type: 'stats', watchers }
//   { type: 'gc' }, { type: 'loop' } the probes every measured server answers (probes.ts)
// It also serves the issuer's JWKS for the router.
//
//   node bench/subscriptions/source.ts   env: JWKS_FILE; sends { type: 'ready', kit, graphqlWs, canned } (URLs) when listening
import { buildSubgraphSchema } from '@apollo/subgraph';
import { authorizationOf, createLogger, createSubgraph, createTokenVerifier, defaultLimits, identityFromAuthorization, pushable, type Pushable, type RequestContext } from '@shopgraph/kit';
import { useServer } from 'graphql-ws/use/ws';
import { TEST_AUDIENCE, TEST_ISSUER } from '@shopgraph/testkit/issuer';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { answerProbes } from './probes.ts';

interface Change {
  orderId: string;
  version: number;
  at: Date;
}

const jwks = readFileSync(process.env.JWKS_FILE!, 'utf8');
const typeDefs = parse(readFileSync(new URL('../../subgraphs/orders/schema.graphql', import.meta.url), 'utf8'));

type Listener = (change: Change) => void;

/** Listeners by order, and the watched orders in a list the generator walks round-robin. */
const watchers = new Map<string, Set<Listener>>();
const watched: string[] = [];
const versions = new Map<string, number>();

/** Adds a listener to an order's changes; returns its removal. */
function listen(orderId: string, listener: Listener): () => void {
  let listeners = watchers.get(orderId);
  if (!listeners) {
    listeners = new Set();
    watchers.set(orderId, listeners);
    watched.push(orderId);
  }
  const set = listeners;
  set.add(listener);
  return () => {
    if (!set.delete(listener) || set.size) return;
    watchers.delete(orderId);
    const index = watched.indexOf(orderId);
    watched[index] = watched.at(-1)!;
    watched.pop();
  };
}

function watch(orderId: string): AsyncIterableIterator<Change> {
  let stop = () => {};
  const stream: Pushable<Change> = pushable({ maxBuffered: 10_000, onReturn: () => stop() });
  stop = listen(orderId, (change) => stream.push(change));
  return stream.iterator;
}

let next = 0;
function emitOne(): void {
  if (!watched.length) return;
  next = (next + 1) % watched.length;
  const orderId = watched[next]!;
  const version = (versions.get(orderId) ?? 0) + 1;
  versions.set(orderId, version);
  const change = { orderId, version, at: new Date() };
  for (const listener of watchers.get(orderId) ?? []) listener(change);
}

/** `rate` changes per second for `seconds`, on a 5 ms schedule (no drift: each tick catches up to its due count). */
async function emit(rate: number, seconds: number): Promise<number> {
  const start = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * rate);
    while (sent < due) {
      emitOne();
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return sent;
}

const DateTime = { serialize: (value: Date) => value.toISOString() };
const resolvers = {
  DateTime,
  Subscription: {
    orderStatusChanged: {
      subscribe: (_: unknown, { orderId }: { orderId: string }) => watch(orderId),
      resolve: (change: Change) => ({ version: change.version, status: 'CONFIRMED', reason: null, at: change.at, order: { id: change.orderId } }),
    },
  },
};
const verifier = createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, keys: JSON.parse(jwks) });
const service = await createSubgraph<RequestContext>({
  name: 'orders',
  typeDefs,
  resolvers: resolvers as never,
  verifier,
  limits: defaultLimits,
  logger: createLogger('bench-orders', 'warn'),
  production: true,
  routes: {
    '/.well-known/jwks.json': (_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    },
  },
  context: (identity) => ({ identity }),
  webSocket: { maxOperationsPerConnection: 100_000 },
});
const url = await service.listen(0, '127.0.0.1');

// The plain graphql-ws server: graphql-ws's `useServer` and graphql-js as graphql-ws's documentation
// sets one up, the same schema and resolvers, the token verified once per connection.
const graphqlWsServer = createServer((_req, res) => res.writeHead(404).end());
useServer({
  schema: buildSubgraphSchema([{ typeDefs, resolvers: resolvers as never }]),
  onConnect: async (ctx) => (await identityFromAuthorization(verifier, authorizationOf(ctx.connectionParams)).catch(() => null)) !== null,
}, new WebSocketServer({ server: graphqlWsServer, path: '/graphql' }));
await new Promise<void>((resolve) => graphqlWsServer.listen(0, '127.0.0.1', resolve));

// The canned orders subgraph: answers the bench's selection (`version status at`) without executing it.
const cannedServer = createServer((_req, res) => res.writeHead(404).end());
const canned = new WebSocketServer({ server: cannedServer, perMessageDeflate: false });
canned.on('connection', (socket) => {
  const stops = new Map<string, () => void>();
  // A generator tick's events leave in one write, not a syscall each: the canned side stays cheap.
  const tcp = (socket as unknown as { _socket: Socket })._socket;
  let corked = false;
  const send = (text: string) => {
    if (!corked) {
      corked = true;
      tcp.cork();
      setImmediate(() => {
        corked = false;
        tcp.uncork();
      });
    }
    socket.send(text);
  };
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as { type: string; id?: string; payload?: { variables?: { orderId?: string } } };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'ping') socket.send('{"type":"pong"}');
    else if (message.type === 'subscribe') {
      const prefix = `{"id":${JSON.stringify(message.id)},"type":"next","payload":{"data":{"orderStatusChanged":{"version":`;
      stops.set(message.id!, listen(message.payload!.variables!.orderId!, (change) => send(`${prefix}${change.version},"status":"CONFIRMED","at":"${change.at.toISOString()}"}}}}`)));
    } else if (message.type === 'complete') {
      stops.get(message.id!)?.();
      stops.delete(message.id!);
    }
  });
  socket.on('close', () => {
    for (const stop of stops.values()) stop();
  });
});
await new Promise<void>((resolve) => cannedServer.listen(0, '127.0.0.1', resolve));

answerProbes();
process.on('message', (message: { type: string; rate?: number; seconds?: number }) => {
  if (message.type === 'emit') void emit(message.rate!, message.seconds!).then((count) => process.send!({ type: 'emitted', count }));
  if (message.type === 'stats') process.send!({ type: 'stats', watchers: [...watchers.values()].reduce((n, s) => n + s.size, 0) });
});
process.on('SIGTERM', () => void service.close().then(() => process.exit(0)));
process.send!({ type: 'ready', kit: `${url}/graphql`, graphqlWs: `http://127.0.0.1:${(graphqlWsServer.address() as AddressInfo).port}/graphql`, canned: `http://127.0.0.1:${(cannedServer.address() as AddressInfo).port}/graphql` });
