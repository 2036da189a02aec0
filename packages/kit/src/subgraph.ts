import { ApolloServer, HeaderMap, type ApolloServerPlugin, type BaseContext, type ContextThunk } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema, type GraphQLResolverMap } from '@apollo/subgraph';
import { GraphQLError, parse, type DocumentNode } from 'graphql';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { identityFromAuthorization, type Identity, type TokenVerifier } from '@shopgraph/core/auth';
import { enforceRequirements, requirementsOf } from '@shopgraph/core/authz';
import { ErrorCode, withHttpStatus } from '@shopgraph/core/errors';
import { expensiveFieldsOf, expensiveSelectionsIn, fragmentsOf } from '@shopgraph/core/expensive';
import { maskUnexpectedErrors } from '@shopgraph/core/graphql';
import { serveGraphQLOverWebSocket, type GraphQLWsServer } from '@shopgraph/core/graphql-ws';
import type { Session } from '@shopgraph/core/session';
import { closeHttpServer, createHttpServer, HttpError, listen, readBody, type GraphQLHandler, type ReadinessCheck, type Route, type Service } from '@shopgraph/core/http';

export type { Service };
import { operationGuards, type Limits } from '@shopgraph/core/limits';
import type { Logger } from '@shopgraph/core/log';
import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '@shopgraph/core/metrics';
import { inSpan, SpanKind, trace, traceContextOf, type Tracer } from '@shopgraph/core/tracing';

export type { GraphQLResolverMap };

/** What every subgraph resolver can count on; services add their own fields. */
export interface RequestContext extends BaseContext {
  identity: Identity | null;
}

export interface SubgraphOptions<C extends RequestContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<C>;
  /**
   * Builds the per-request context from the verified identity: over HTTP with the request; over
   * WebSocket (see `webSocket`) with the connection's `session` instead (whose identity follows token
   * refreshes), called for each operation and again for each event of a subscription.
   */
  context: (identity: Identity | null, req: IncomingMessage | null, session?: Session) => C | Promise<C>;
  verifier: TokenVerifier;
  limits: Limits;
  logger: Logger;
  production: boolean;
  routes?: Record<string, Route>;
  readiness?: Record<string, ReadinessCheck>;
  /** Where request counts and latencies go (served by the caller on `/metrics`). */
  metrics?: Registry;
  /** Traces each HTTP request (continuing the caller's `traceparent`), when tracing is on. */
  tracer?: Tracer;
  /**
   * Also serve the schema over graphql-ws (`graphql-transport-ws`) on the same port and path, for
   * subscriptions above all: signed-in callers only (the token in `connection_init`, verified by
   * `verifier`; refreshed in a `ping`), the same limits and `@authenticated`/`@requiresScopes`
   * checks as HTTP. Each event of a subscription is executed with a fresh context. A router may
   * share one connection among its clients, each operation with its own token (`operationTokens`).
   * Options of the server may be given instead of `true`.
   */
  webSocket?: boolean | SubgraphWebSocketOptions;
}

export interface SubgraphWebSocketOptions {
  /** Called for each accepted session: a connection's, or an operation's on a router's shared connection (metrics, tests). */
  onSession?: (session: Session) => void;
  /** Operations one connection may have running at once (default 100). */
  maxOperationsPerConnection?: number;
  /** Operations one router's shared connection may have running at once (default 100,000). */
  maxOperationsPerSharedConnection?: number;
  /** Interval of WebSocket-level keep-alive pings (graphql-ws default). */
  keepAliveMs?: number;
}

/** Reads a subgraph's SDL file (path relative to the calling module's URL). */
export function readSchema(url: URL): DocumentNode {
  return parse(readFileSync(url, 'utf8'));
}

/**
 * An Apollo Federation 2 subgraph behind node:http, with the project's defaults: the caller's
 * identity comes only from a verified bearer token, `@authenticated`/`@requiresScopes` are
 * enforced, operation limits apply, unexpected errors are masked. With `webSocket`, the same
 * schema is served over graphql-ws on the same port and path, with the same guarantees.
 */
export async function createSubgraph<C extends RequestContext>(options: SubgraphOptions<C>): Promise<Service> {
  const { logger } = options;
  const schema = enforceRequirements(buildSubgraphSchema([{ typeDefs: options.typeDefs, resolvers: options.resolvers as GraphQLResolverMap<unknown> }]), options.typeDefs);
  const guards = operationGuards(options.limits);
  const apollo = new ApolloServer<C>({
    schema,
    ...guards,
    introspection: !options.production,
    // runUntilSignal owns SIGTERM/SIGINT: drain, then exit 0.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    // The router sends the fetches of one plan step together: one context (token check, loaders) for them all.
    allowBatchedHttpRequests: true,
    formatError: maskUnexpectedErrors(logger),
    // No Apollo Studio here: skip building traces for every subgraph response.
    plugins: [ApolloServerPluginInlineTraceDisabled(), batchesOfPlainQueries, ...(options.metrics ? [requestMetrics(options.metrics)] : []), ...(options.tracer ? [spanNaming] : [])],
  });
  await apollo.start();
  const context = async (req: IncomingMessage) => {
    const identity = await identityFromAuthorization(options.verifier, req.headers.authorization).catch((error: unknown) => {
      throw withHttpStatus(error);
    });
    return options.context(identity, req);
  };
  const server = createHttpServer({
    graphql: apolloHandler(apollo, context, options.limits, options.tracer),
    logger,
    routes: options.routes,
    readiness: options.readiness,
  });
  let webSocket: GraphQLWsServer | undefined;
  if (options.webSocket) {
    const settings = options.webSocket === true ? {} : options.webSocket;
    const context = ({ session }: { session: Session }) => options.context(session.identity, null, session);
    webSocket = serveGraphQLOverWebSocket<C>(server, {
      schema,
      verifier: options.verifier,
      limits: options.limits,
      logger: logger.child({ component: 'websocket' }),
      production: options.production,
      // Refused before anything runs, as the router does; the resolvers check again.
      requirements: requirementsOf(options.typeDefs),
      context,
      eventContext: context,
      operationTokens: true,
      ...settings,
    });
  }
  return {
    server,
    listen: (port, host) => listen(server, port, host),
    close: async () => {
      // Subscribers first: they resubscribe elsewhere while this instance finishes its requests.
      await webSocket?.close();
      await closeHttpServer(server);
      await apollo.stop();
    },
  };
}

/** Requests and their latency by operation type (the router's fetches, mostly) and result; and the HTTP requests that carried them. */
function requestMetrics(registry: Registry): ApolloServerPlugin {
  const requests = new Counter({ name: 'shopgraph_graphql_requests_total', help: 'GraphQL requests (operations) served over HTTP, by operation type and result (ok, error: any error in the response)', labelNames: ['operation_type', 'result'], registers: [registry] });
  const seconds = new Histogram({ name: 'shopgraph_graphql_request_seconds', help: 'Time to answer a GraphQL request over HTTP', labelNames: ['operation_type'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const httpRequests = new Counter({ name: 'shopgraph_graphql_http_requests_total', help: 'HTTP requests that carried GraphQL requests (a batched one carries several)', registers: [registry] });
  // The operations of a batched request share its response's head.
  const counted = new WeakSet<object>();
  return {
    async requestDidStart({ response }) {
      const started = performance.now();
      if (!counted.has(response.http)) {
        counted.add(response.http);
        httpRequests.inc();
      }
      return {
        async willSendResponse({ operation, errors }) {
          const type = operation?.operation ?? 'invalid';
          requests.inc({ operation_type: type, result: errors?.length ? 'error' : 'ok' });
          seconds.observe({ operation_type: type }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}

/**
 * A batched request (the router's fetches of one plan step) carries queries only, none selecting an
 * `@expensive` field: a mutation, or a sign-in's password hash, is one per request, so a batch cannot
 * multiply what the per-operation guards hold to once.
 */
const batchesOfPlainQueries: ApolloServerPlugin = {
  async requestDidStart({ requestIsBatched }) {
    if (!requestIsBatched) return;
    return {
      async didResolveOperation({ operation, document, schema }) {
        if (operation?.operation === 'query' && (!expensiveFieldsOf(schema).size || !expensiveSelectionsIn(schema, operation, () => fragmentsOf(document)))) return;
        throw new GraphQLError('A batched request carries queries only, none with an expensive field: send this operation in a request of its own', {
          extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } },
        });
      },
    };
  },
};

type BodyLimits = Pick<Limits, 'LIMIT_MAX_BODY_BYTES' | 'LIMIT_MAX_BATCH_OPERATIONS'>;

/**
 * GraphQL served by an Apollo Server (the subgraphs'). Bodies are size-capped, malformed JSON and
 * batches of more operations than allowed are a 400, all before GraphQL runs.
 */
export function apolloHandler<C extends BaseContext>(apollo: ApolloServer<C>, context: (req: IncomingMessage) => Promise<C>, limits: BodyLimits, tracer?: Tracer): GraphQLHandler {
  if (!tracer) return (req, res, url) => handleApollo(req, res, url, apollo, context, limits);
  return (req, res, url) => inSpan(tracer, 'graphql', { kind: SpanKind.SERVER, parent: traceContextOf(req.headers) }, () => handleApollo(req, res, url, apollo, context, limits));
}

/** Names the request's span after its operation once it is known; never variables or tokens. */
const spanNaming: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation, operationName }) {
        const span = trace.getActiveSpan();
        const type = operation?.operation ?? 'unknown';
        span?.updateName(`${type} ${operationName ?? 'anonymous'}`);
        span?.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.name': operationName ?? '' });
      },
    };
  },
};

async function handleApollo<C extends BaseContext>(req: IncomingMessage, res: ServerResponse, url: URL, apollo: ApolloServer<C>, contextOf: (req: IncomingMessage) => Promise<C>, limits: BodyLimits): Promise<void> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const body = req.method === 'POST' ? parseBody(await readBody(req, limits.LIMIT_MAX_BODY_BYTES), headers.get('content-type')) : undefined;
  if (Array.isArray(body) && body.length > limits.LIMIT_MAX_BATCH_OPERATIONS) throw new HttpError(400, `A batched request may carry at most ${limits.LIMIT_MAX_BATCH_OPERATIONS} operations`);
  const context: ContextThunk<C> = () => contextOf(req);
  const response = await apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
    context,
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (!contentType?.startsWith('application/json') && !contentType?.startsWith('application/graphql-response+json')) return raw;
  if (raw === '') throw new HttpError(400, 'Empty JSON body');
  try {
    return JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'Malformed JSON body');
  }
}
