import { verifierFromConfig, type TokenVerifier } from '@shopgraph/core/auth';
import { serveGraphQLOverWebSocket, type WsRequest } from '@shopgraph/core/graphql-ws';
import type { CacheStats } from '@shopgraph/core/operation';
import { clientAddress, closeHttpServer, createHttpServer, listen, readinessRoute, sendJson, type Route } from '@shopgraph/core/http';
import { httpClient } from '@shopgraph/core/http-client';
import type { Logger } from '@shopgraph/core/log';
import { createMetrics, metricsRoute } from '@shopgraph/core/metrics';
import { createTracing, inTraceOf } from '@shopgraph/core/tracing';
import type { Service } from '@shopgraph/core/http';
import type { ExecutionArgs } from 'graphql';
import { batchedSubgraphs, type Config } from './config.ts';
import { documentBudget } from './document-budget.ts';
import { buildGeneration, type Generation } from './generation.ts';
import { graphqlOverHttp } from './http.ts';
import { routerMetrics } from './metrics.ts';
import { persistedQueries } from './persisted-queries.ts';
import { createPipeline, type RouterOperation } from './pipeline.ts';
import { NO_RATE_LIMIT, RATE_LIMITED, rateLimitedError, redisRateLimiter } from './rate-limit.ts';
import { createRegistryClient, type RegistryClient, type UsageReport } from './registry-client.ts';
import { graphqlWsClientMount, staticRoutes } from './static.ts';
import { fixedSupergraph, registrySupergraph, supergraphFile, type SupergraphSource, type SupergraphVersion } from './supergraph-source.ts';
import { NO_TRUSTED_DOCUMENTS, TrustedDocumentStore, type TrustedDocuments } from './trusted-documents.ts';
import { UsageReporter } from './usage.ts';

export interface RouterDeps {
  config: Config;
  logger: Logger;
  /**
   * Where the supergraph comes from. Default: with REGISTRY_URL the registry's (followed live),
   * else the file at SUPERGRAPH_PATH. Tests pass their own, or `supergraphSdl`.
   */
  supergraphSource?: SupergraphSource;
  /** A fixed supergraph SDL (the composed `supergraph.graphql`), instead of a source. */
  supergraphSdl?: string;
  /** The registry's API; default from REGISTRY_URL / REGISTRY_TOKEN (when set). */
  registry?: RegistryClient;
  /** Without a registry: the trusted documents to enforce (none by default). */
  trustedDocuments?: TrustedDocuments;
  /** Where usage reports go; default: the registry's `reportUsage` (when there is a registry), else none are kept. */
  reportUsage?: (report: UsageReport) => Promise<void>;
  /** Defaults to the issuer's JWKS from config; tests may pass their own. */
  verifier?: TokenVerifier;
  /** Routing URL overrides by subgraph name (or its env form, e.g. `CATALOG`); win over `config.subgraphUrls`. */
  subgraphUrls?: Record<string, string>;
}

export interface RouterApp extends Service {
  /** Open WebSocket connections, and the subgraph subscriptions and sockets they hold. */
  webSocketStats(): { connections: number; upstreamSubscriptions: number; upstreamSockets: number };
  /** The id (sha256 hex of the SDL) of the supergraph served now. */
  supergraphId(): string;
  /** Sends the usage recorded so far now (otherwise every USAGE_REPORT_INTERVAL_MS). */
  flushUsage(): Promise<void>;
  /** How full the served supergraph's document and plan caches are, in estimated bytes. */
  cacheStats(): { documents: CacheStats; plans: CacheStats };
}

/**
 * The federated router: one GraphQL endpoint over the supergraph's subgraphs. Every transport on
 * its one URL (HTTP JSON, multipart subscriptions, SSE, graphql-ws) goes through one pipeline
 * (pipeline.ts): JWT verification, operation limits, `@authenticated`/`@requiresScopes` before
 * execution, Apollo's query planner, the router's executor. Plus /healthz and /readyz. With a
 * registry it follows the variant's supergraph live, enforces its trusted documents when required
 * and reports usage. Side-effect free until `listen` (but for the registry polls it starts).
 */
export async function createRouterApp(deps: RouterDeps): Promise<RouterApp> {
  const { config, logger, subgraphUrls = {} } = deps;
  const verifier = deps.verifier ?? verifierFromConfig(config);
  const client = httpClient(config.SUBGRAPH_TIMEOUT_MS);
  const production = config.NODE_ENV === 'production';
  const registry = deps.registry ?? (config.REGISTRY_URL ? createRegistryClient({ url: config.REGISTRY_URL, token: config.REGISTRY_TOKEN, timeoutMs: config.REGISTRY_TIMEOUT_MS }) : undefined);
  const registryTrusted = registry ? new TrustedDocumentStore() : undefined;
  const metricsRegistry = createMetrics('router');
  const metrics = routerMetrics(metricsRegistry);
  const tracing = createTracing('router', config, metricsRegistry);
  const tracer = tracing.enabled ? tracing.tracer : undefined;
  const trustedDocuments = registryTrusted ?? deps.trustedDocuments ?? NO_TRUSTED_DOCUMENTS;
  const fileSource = () => (deps.supergraphSdl !== undefined ? fixedSupergraph(deps.supergraphSdl) : supergraphFile(config.SUPERGRAPH_PATH));
  const source = deps.supergraphSource ?? (registry && registryTrusted
    ? registrySupergraph({
      client: registry,
      url: config.REGISTRY_URL ?? 'registry',
      variant: config.REGISTRY_VARIANT,
      pollMs: config.REGISTRY_POLL_MS,
      startupTimeoutMs: config.REGISTRY_STARTUP_TIMEOUT_MS,
      fallback: config.supergraphPathSet || deps.supergraphSdl !== undefined ? fileSource() : undefined,
      trustedDocuments: registryTrusted,
      logger: logger.child({ component: 'registry' }),
    })
    : fileSource());
  const reportUsage = deps.reportUsage ?? (registry ? (report: UsageReport) => registry.reportUsage(config.REGISTRY_VARIANT, report) : undefined);
  const usage = reportUsage ? new UsageReporter({ send: reportUsage, intervalMs: config.USAGE_REPORT_INTERVAL_MS, logger: logger.child({ component: 'usage' }) }) : undefined;

  // Everything derived from a supergraph is computed once, when it arrives, never per request.
  const generationOptions = {
    subgraphUrls: { ...config.subgraphUrls, ...subgraphUrls },
    client,
    limits: config,
    production,
    readiness: { timeoutMs: config.SUBGRAPH_READINESS_TIMEOUT_MS, cacheMs: config.SUBGRAPH_READINESS_CACHE_MS },
    logger,
    observe: { metrics, tracer },
    batched: batchedSubgraphs(config.SUBGRAPH_BATCHING),
    cacheBytes: { documents: config.DOCUMENT_CACHE_BYTES, plans: config.PLAN_CACHE_BYTES },
  };
  // Later supergraphs: built off the poll's stack, swapped in when they build; a bad one is logged and the served one stays.
  let pending: SupergraphVersion | undefined;
  const swapIn = () => {
    const version = pending!;
    pending = undefined;
    if (version.id === pipeline.generation.id) return;
    let next: Generation;
    try {
      next = buildGeneration(version, { ...generationOptions, strictOverrides: false });
    } catch (error) {
      logger.error({ err: error, supergraph: version.id }, 'new supergraph refused (does not build): still serving %s', pipeline.generation.id);
      return;
    }
    const previous = pipeline.generation.id;
    const { kept, ended } = pipeline.swap(next);
    logger.info({ supergraph: next.id, previous, subscriptionsKept: kept, subscriptionsEnded: ended }, 'supergraph swapped');
  };
  const onUpdate = (version: SupergraphVersion) => {
    if (!pending) setImmediate(swapIn);
    pending = version;
  };
  let first: Generation;
  try {
    first = buildGeneration(await source.start(onUpdate), { ...generationOptions, strictOverrides: true });
  } catch (error) {
    source.close();
    await usage?.close();
    await tracing.shutdown();
    throw error;
  }
  const pipeline = createPipeline({
    generation: first,
    trustedDocuments,
    usage,
    metrics,
    tracer,
    logger: logger.child({ component: 'pipeline' }),
    maxSubscriptionsPerUser: config.LIMIT_MAX_SUBSCRIPTIONS_PER_USER,
    newDocuments: documentBudget({ anonymousPerS: config.LIMIT_NEW_DOCUMENTS_ANONYMOUS_PER_S, perUserPerS: config.LIMIT_NEW_DOCUMENTS_PER_USER_PER_S }),
    upstreamConnection: { ackTimeoutMs: config.SUBGRAPH_WS_CONNECT_TIMEOUT_MS, pingIntervalMs: config.SUBGRAPH_WS_PING_INTERVAL_MS, pongTimeoutMs: config.SUBGRAPH_WS_PONG_TIMEOUT_MS },
    // A supergraph nothing runs on any more: connections to subgraphs only it routed to are closed.
    onRetire: (_retired, inUse) => client.release(new Set(inUse.flatMap((g) => [...g.routingUrls.values()].map((url) => new URL(url).origin)))),
  });
  let stopping = false;
  // Shared by every replica through Redis; without REDIS_URL, none.
  const rateLimiter = config.REDIS_URL
    ? redisRateLimiter({
      url: config.REDIS_URL,
      keyPrefix: config.REDIS_KEY_PREFIX,
      perIp: config.RATE_LIMIT_PER_IP,
      perUser: config.RATE_LIMIT_PER_USER,
      windowS: config.RATE_LIMIT_WINDOW_S,
      burstPerIp: config.RATE_LIMIT_BURST_PER_IP,
      burstPerUser: config.RATE_LIMIT_BURST_PER_USER,
      commandTimeoutMs: config.RATE_LIMIT_CHECK_TIMEOUT_MS,
      logger: logger.child({ component: 'rate-limit' }),
      onCheck: (result) => metrics.rateLimitCheck(result),
    })
    : NO_RATE_LIMIT;
  // A router just started counts from its first operation: it waits (briefly) for Redis before serving.
  await rateLimiter.connected();

  // /readyz is the router's own readiness (and the supergraph it serves): one subgraph down must not
  // take every router replica out of service (its fields fail, the rest still work), nor a registry
  // down (the router serves what it has). /readyz/subgraphs reports the subgraphs.
  const readyz: Route = (_req, res) => {
    const supergraph = { id: pipeline.generation.id };
    sendJson(res, stopping ? 503 : 200, stopping ? { status: 'unavailable', failing: ['router'], supergraph } : { status: 'ready', supergraph });
  };
  const subgraphsReadyz: Route = (req, res) => readinessRoute(pipeline.generation.subgraphReadiness)(req, res);

  // Static pages (WEB_ROOT) under `/`, with the graphql-ws browser client they may import.
  const pages = config.WEB_ROOT ? await staticRoutes([{ prefix: '/', dir: config.WEB_ROOT }, graphqlWsClientMount], logger) : {};
  const http = graphqlOverHttp({
    pipeline, verifier, persistedQueries: persistedQueries({ trusted: trustedDocuments }), logger, maxBodyBytes: config.LIMIT_MAX_BODY_BYTES,
    rateLimiter, trustProxy: config.TRUST_PROXY_HOPS, metrics,
  });
  const server = createHttpServer({
    // Traced: each request continues the trace its `traceparent` names, or starts one.
    graphql: tracer ? (req, res, url) => inTraceOf(req.headers, () => http.handle(req, res, url)) : http.handle,
    logger,
    routes: { ...pages, '/readyz': readyz, '/readyz/subgraphs': subgraphsReadyz, '/metrics': metricsRoute(metricsRegistry) },
  });
  // graphql-ws on the same port and path, for signed-in users: each operation is the pipeline's,
  // run with the connection's session (its latest refreshed token), and counts against the same
  // rate limits as over HTTP (a refused one gets RATE_LIMITED; the connection stays).
  const requestOf = (args: ExecutionArgs) => args.contextValue as WsRequest<RouterOperation>;
  const webSocket = serveGraphQLOverWebSocket<WsRequest<RouterOperation>, RouterOperation>(server, {
    schema: pipeline.schema,
    prepare: async (input, identity, client) => {
      const decision = await rateLimiter.check({ ip: client.address, identity });
      if (!decision.allowed) {
        metrics.refused(RATE_LIMITED);
        return { status: 429, errors: [rateLimitedError(decision)] };
      }
      return pipeline.prepare(input, identity);
    },
    clientAddress: (request) => clientAddress(request, config.TRUST_PROXY_HOPS),
    maxConnectionsPerUser: config.LIMIT_MAX_WS_CONNECTIONS_PER_USER,
    onRefusal: (code) => metrics.refused(code),
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
    supergraphId: () => pipeline.generation.id,
    flushUsage: async () => usage?.flush(),
    cacheStats: () => ({ documents: pipeline.generation.prepareRequest.cacheStats(), plans: pipeline.generation.execution.cacheStats() }),
    close: async () => {
      stopping = true;
      source.close();
      await webSocket.close();
      http.close();
      pipeline.close();
      await closeHttpServer(server);
      client.close();
      await rateLimiter.close();
      // What the last window recorded, if the registry takes it soon: shutdown does not wait for a registry away.
      if (usage) await Promise.race([usage.close(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      await tracing.shutdown();
    },
  };
}
