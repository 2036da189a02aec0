// The canned subgraphs: one process serving every subgraph of both graphs under /<graph>/<subgraph>.
// The first time a request body is seen it is answered by the subgraph's real resolvers
// (buildSubgraphSchema + graphql-js); the serialised answer is then kept under that exact body and
// served from the map, so under load a subgraph costs a map lookup and a write, never resolver work.
// It counts requests per subgraph (GET /__stats), and serves the test issuer's JWKS.
//
//   node bench/router/canned-server.ts   env: PORT (0 = any), JWKS_FILE (JSON key set)
// Prints one JSON line, {"url": ...}, once listening.
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, type GraphQLSchema } from 'graphql';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphs, subgraphPath } from './subgraphs/index.ts';
import type { GraphName } from './workloads.ts';

/** Distinct bodies remembered per subgraph; more than that is a harness problem (a gateway putting per-request data in bodies). */
const MAX_BODIES = 1000;

interface Route {
  schema: GraphQLSchema;
  canned: Map<string, Buffer>;
  requests: number;
  /** Requests answered by running resolvers (first sight of a body, or beyond MAX_BODIES). */
  computed: number;
}

const routes = new Map<string, Route>();
for (const [graph, subgraphs] of Object.entries(graphs()) as Array<[GraphName, ReturnType<typeof graphs>[GraphName]]>) {
  for (const { name, typeDefs, resolvers } of subgraphs) {
    routes.set(subgraphPath(graph, name), { schema: buildSubgraphSchema([{ typeDefs, resolvers }]), canned: new Map(), requests: 0, computed: 0 });
  }
}
const jwks = Buffer.from(process.env.JWKS_FILE ? readFileSync(process.env.JWKS_FILE) : '{"keys":[]}');

async function compute(route: Route, body: string): Promise<Buffer> {
  const { query, variables, operationName } = JSON.parse(body) as { query: string; variables?: Record<string, unknown>; operationName?: string };
  const result = await graphql({ schema: route.schema, source: query, variableValues: variables ?? null, operationName: operationName ?? null });
  return Buffer.from(JSON.stringify(result));
}

function send(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const server = createServer(async (req, res) => {
  try {
    const route = routes.get(req.url ?? '');
    if (route && req.method === 'POST') {
      const body = await readBody(req);
      route.requests++;
      let answer = route.canned.get(body);
      if (!answer) {
        route.computed++;
        answer = await compute(route, body);
        if (route.canned.size < MAX_BODIES) route.canned.set(body, answer);
      }
      return send(res, 200, answer);
    }
    if (req.url === '/.well-known/jwks.json') return send(res, 200, jwks);
    if (req.url === '/__stats') {
      const stats = Object.fromEntries([...routes].map(([path, r]) => [path, { requests: r.requests, computed: r.computed, bodies: r.canned.size }]));
      return send(res, 200, Buffer.from(JSON.stringify(stats)));
    }
    if (req.url === '/healthz') return send(res, 200, Buffer.from('{"status":"ok"}'));
    send(res, 404, Buffer.from('{"error":"not found"}'));
  } catch (error) {
    send(res, 500, Buffer.from(JSON.stringify({ errors: [{ message: String(error) }] })));
  }
});
// Gateways keep connections open between rounds; never be the side that closes an idle one first.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
