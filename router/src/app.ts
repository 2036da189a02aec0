import { verifierFromConfig, type TokenVerifier } from '@shopgraph/core/auth';
import { requirementsOf } from '@shopgraph/core/authz';
import { serveGraphQLOverWebSocket, type WsRequest } from '@shopgraph/core/graphql-ws';
import { closeHttpServer, createHttpServer, listen, readinessRoute, type ReadinessCheck } from '@shopgraph/core/http';
import type { Logger } from '@shopgraph/core/log';
import type { Service } from '@shopgraph/core/http';
import { parse, type ExecutionArgs } from 'graphql';
import type { Config } from './config.ts';
import { createPlanExecution } from './execution.ts';
import { graphqlOverHttp } from './http.ts';
import { persistedQueries } from './persisted-queries.ts';
import { createPipeline, type RouterOperation } from './pipeline.ts';
import { graphqlWsClientMount, staticRoutes } from './static.ts';
import { subgraphClient, subgraphDataSource, subgraphReadiness } from './subgraphs.ts';
import { gatewaySupergraphSdl, subgraphsOf, withUrlOverrides } from './supergraph.ts';

export interface RouterDeps {
  config: Config;
  logger: Logger;
  /** The composed supergraph SDL (`supergraph.graphql`). */
  supergraphSdl: string;
  /** Defaults to the issuer's JWKS from config; tests may pass their own. */
  verifier?: TokenVerifier;
  /** Routing URL overrides by subgraph name (or its env form, e.g. `CATALOG`); win over `config.subgraphUrls`. */
  subgraphUrls?: Record<string, string>;
}

export interface RouterApp extends Service {
  /** Open WebSocket connections, and the subgraph subscriptions and sockets they hold. */
  webSocketStats(): { connections: number; upstreamSubscriptions: number; upstreamSockets: number };
}

/**
 * The federated router: one GraphQL endpoint over the supergraph's subgraphs. Every transport on
 * its one URL (HTTP JSON, multipart subscriptions, SSE, graphql-ws) goes through one pipeline
 * (pipeline.ts): JWT verification, operation limits, `@authenticated`/`@requiresScopes` before
 * execution, Apollo's query planner, the router's executor. Plus /healthz and /readyz.
 * Side-effect free until `listen`.
 */
export async function createRouterApp({ config, logger, supergraphSdl, verifier: givenVerifier, subgraphUrls = {} }: RouterDeps): Promise<RouterApp> {
  // Everything derived from the supergraph is computed once, here, never per request.
  const supergraph = parse(supergraphSdl);
  const subgraphs = withUrlOverrides(subgraphsOf(supergraph), { ...config.subgraphUrls, ...subgraphUrls });
  const verifier = givenVerifier ?? verifierFromConfig(config);
  const client = subgraphClient(config.SUBGRAPH_TIMEOUT_MS);
  const production = config.NODE_ENV === 'production';
  // Federation refuses SECURITY features it does not enforce; the pipeline enforces these.
  const execution = createPlanExecution(gatewaySupergraphSdl(supergraph));
  const pipeline = createPipeline({
    execution,
    dataSources: Object.fromEntries(subgraphs.map(({ name, url }) => [name, subgraphDataSource(name, url, client)])),
    routingUrls: new Map(subgraphs.map((s) => [s.name, s.url])),
    requirements: requirementsOf(supergraph),
    limits: config,
    production,
    logger: logger.child({ component: 'pipeline' }),
  });
  let stopping = false;

  // /readyz is the router's own readiness: one subgraph down must not take every router replica
  // out of service (its fields fail, the rest still work). /readyz/subgraphs reports them all.
  const readiness: Record<string, ReadinessCheck> = {
    router: async () => {
      if (stopping) throw new Error('router stopping');
    },
  };
  const subgraphChecks = Object.fromEntries(
    subgraphs.map(({ name, url }) => [name, subgraphReadiness(url, config.SUBGRAPH_READINESS_TIMEOUT_MS, config.SUBGRAPH_READINESS_CACHE_MS)]),
  );

  // Static pages (WEB_ROOT) under `/`, with the graphql-ws browser client they may import.
  const pages = config.WEB_ROOT ? await staticRoutes([{ prefix: '/', dir: config.WEB_ROOT }, graphqlWsClientMount], logger) : {};
  const http = graphqlOverHttp({ pipeline, verifier, persistedQueries: persistedQueries(), logger, maxBodyBytes: config.LIMIT_MAX_BODY_BYTES });
  const server = createHttpServer({
    graphql: http.handle,
    logger,
    readiness,
    routes: { ...pages, '/readyz/subgraphs': readinessRoute(subgraphChecks) },
  });
  // graphql-ws on the same port and path, for signed-in users: each operation is the pipeline's,
  // run with the connection's session (its latest refreshed token).
  const requestOf = (args: ExecutionArgs) => args.contextValue as WsRequest<RouterOperation>;
  const webSocket = serveGraphQLOverWebSocket<WsRequest<RouterOperation>, RouterOperation>(server, {
    schema: pipeline.schema,
    prepare: (input, identity) => pipeline.prepare(input, identity),
    verifier,
    limits: config,
    logger: logger.child({ component: 'websocket' }),
    production,
    context: (request) => request,
    execute: (args) => {
      const request = requestOf(args);
      return pipeline.execute(request, request.session);
    },
    subscribe: async (args) => {
      const request = requestOf(args);
      return pipeline.subscribe(request, request.session);
    },
  });
  return {
    server,
    listen: (port, host) => listen(server, port, host),
    webSocketStats: () => ({ connections: webSocket.connections, ...pipeline.stats() }),
    close: async () => {
      stopping = true;
      await webSocket.close();
      http.close();
      pipeline.close();
      await closeHttpServer(server);
      client.close();
    },
  };
}
