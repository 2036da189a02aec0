import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { identityFromAuthorization, verifierFromConfig, type Identity, type TokenVerifier } from '@shopgraph/kit/auth';
import { requirementsOf } from '@shopgraph/kit/authz';
import { withHttpStatus } from '@shopgraph/kit/errors';
import { maskUnexpectedErrors } from '@shopgraph/kit/graphql';
import { serveGraphQLOverWebSocket } from '@shopgraph/kit/graphql-ws';
import { closeHttpServer, createHttpServer, listen, readinessRoute, type ReadinessCheck } from '@shopgraph/kit/http';
import { operationGuards } from '@shopgraph/kit/limits';
import type { Logger } from '@shopgraph/kit/log';
import type { Service } from '@shopgraph/kit/subgraph';
import { parse } from 'graphql';
import type { IncomingMessage } from 'node:http';
import { authorizationPlugin } from './authz.ts';
import type { Config } from './config.ts';
import { createPlanExecution, planExecutionGateway } from './execution.ts';
import { graphqlWsClientMount, staticRoutes } from './static.ts';
import { subgraphClient, subgraphDataSource, subgraphReadiness } from './subgraphs.ts';
import { createFederatedExecution, subscriptionsOverWebSocketOnly, type FederatedContext } from './subscriptions.ts';
import { gatewaySupergraphSdl, subgraphsOf, withUrlOverrides } from './supergraph.ts';

export interface RouterContext {
  /** The caller, from a verified bearer token; null when anonymous. */
  identity: Identity | null;
  /** The verified `Authorization` header, forwarded as is to subgraphs. */
  authorization: string | undefined;
}

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
 * The federated router: one GraphQL endpoint over the supergraph's subgraphs, with JWT
 * verification, `@authenticated`/`@requiresScopes` enforced before execution, operation limits,
 * and /healthz + /readyz. The same URL serves graphql-ws for signed-in users: federated
 * subscriptions, and queries/mutations (subscriptions.ts; the kit's graphql-ws.ts). Side-effect free until `listen`.
 */
export async function createRouterApp({ config, logger, supergraphSdl, verifier: givenVerifier, subgraphUrls = {} }: RouterDeps): Promise<RouterApp> {
  // Everything derived from the supergraph is computed once, here, never per request.
  const supergraph = parse(supergraphSdl);
  const subgraphs = withUrlOverrides(subgraphsOf(supergraph), { ...config.subgraphUrls, ...subgraphUrls });
  const routingUrl = new Map(subgraphs.map((s) => [s.name, s.url]));
  const requirements = requirementsOf(supergraph);
  const verifier = givenVerifier ?? verifierFromConfig(config);
  const client = subgraphClient(config.SUBGRAPH_TIMEOUT_MS);
  const production = config.NODE_ENV === 'production';

  // One data source per subgraph, shared by HTTP and the WebSocket path.
  const dataSources = Object.fromEntries(subgraphs.map(({ name, url }) => [name, subgraphDataSource<RouterContext>(url, client)]));
  // Operations are planned by Apollo's query planner and run by the router's executor, over HTTP and WebSocket alike.
  // Federation refuses SECURITY features it does not enforce; the authorization plugin below enforces these.
  const gatewaySdl = gatewaySupergraphSdl(supergraph);
  const execution = createPlanExecution(gatewaySdl);
  const apollo = new ApolloServer<RouterContext>({
    gateway: planExecutionGateway(execution, dataSources),
    ...operationGuards(config),
    nodeEnv: config.NODE_ENV,
    // runUntilSignal owns SIGTERM/SIGINT: drain, then exit 0.
    stopOnTerminationSignals: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    formatError: maskUnexpectedErrors(logger),
    logger: logger.child({ component: 'apollo' }),
    plugins: [subscriptionsOverWebSocketOnly<RouterContext>(), authorizationPlugin<RouterContext>(requirements), ...(production ? [ApolloServerPluginLandingPageDisabled()] : [])],
  });
  await apollo.start();
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
  const server = createHttpServer<RouterContext>({
    apollo,
    logger,
    maxBodyBytes: config.LIMIT_MAX_BODY_BYTES,
    readiness,
    routes: { ...pages, '/readyz/subgraphs': readinessRoute(subgraphChecks) },
    context: (req) => contextFor(verifier, req),
  });
  // graphql-ws on the same port and path: subscriptions (and queries/mutations) for signed-in users.
  const federated = createFederatedExecution({ execution, dataSources, routingUrls: routingUrl, logger: logger.child({ component: 'subscriptions' }) });
  const webSocket = serveGraphQLOverWebSocket<FederatedContext>(server, {
    schema: federated.schema,
    verifier,
    limits: config,
    logger: logger.child({ component: 'websocket' }),
    production,
    requirements,
    context: (request) => ({ request }),
    execute: federated.execute,
    subscribe: federated.subscribe,
  });
  return {
    server,
    listen: (port, host) => listen(server, port, host),
    webSocketStats: () => ({ connections: webSocket.connections, ...federated.stats() }),
    close: async () => {
      stopping = true;
      await webSocket.close();
      await federated.close();
      await closeHttpServer(server);
      await apollo.stop();
      client.close();
    },
  };
}

/** No token: anonymous. A token that does not verify fails the whole request with 401 UNAUTHENTICATED. */
async function contextFor(verifier: TokenVerifier, req: IncomingMessage): Promise<RouterContext> {
  const header = req.headers.authorization;
  let identity: Identity | null;
  try {
    identity = await identityFromAuthorization(verifier, header);
  } catch (error) {
    throw withHttpStatus(error);
  }
  return { identity, authorization: identity ? header : undefined };
}
