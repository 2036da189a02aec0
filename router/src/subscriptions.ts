import { buildOperationContext, executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type QueryPlan } from '@apollo/query-planner';
import { ErrorCode, mapAsync, pushable, type Logger, type Session, type WsRequest } from '@shopgraph/kit';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import { GraphQLError, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import WebSocket from 'ws';

/**
 * Federated operations over the router's WebSocket: queries, mutations and subscriptions planned by
 * Apollo's query planner and run by the gateway's own `executeQueryPlan`.
 *
 * A subscription plans to `Subscription { primary, rest }`: `primary` is a subscription to the
 * subgraph owning the root field, `rest` fetches the other subgraphs' fields of each event. The
 * router subscribes to that subgraph over graphql-ws (with the client's verified Authorization in
 * `connection_init`) and, for every event, runs the plain plan `Sequence [primary, rest]` with the
 * primary service answering with the event instead of calling the subgraph. Entity fetches, error
 * paths and result shaping are the gateway's.
 */

/** Codes of errors a federated subscription can end with, besides those subgraphs send. */
export const SubscriptionErrorCode = {
  /** The subgraph's subscription ended abnormally (socket closed, unreachable). Resubscribe. */
  SUBGRAPH_SUBSCRIPTION_FAILED: 'SUBGRAPH_SUBSCRIPTION_FAILED',
  /** The client read events slower than they came, past the buffer. Resubscribe. */
  SUBSCRIPTION_OVERFLOW: 'SUBSCRIPTION_OVERFLOW',
} as const;

/** What each operation runs with: the connection's session (its current identity and token). */
export interface FederatedContext {
  request: WsRequest;
}

type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];

export interface FederatedExecutionOptions {
  /** The supergraph as the gateway loads it (`gatewaySupergraphSdl`: enforced SECURITY features relaxed). */
  supergraphSdl: string;
  /** The gateway's own data sources, by subgraph name, so fetches forward Authorization and keep alive the same way. */
  dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** Routing URLs (http/https) by subgraph name; subscriptions go to the same URL over ws/wss. */
  routingUrls: ReadonlyMap<string, string>;
  logger: Logger;
  /** Events buffered per subscription for a slow client before it is ended with SUBSCRIPTION_OVERFLOW. */
  maxBufferedEvents?: number;
  /** Query plans cached, by operation text and name. */
  planCacheSize?: number;
}

export interface FederatedExecution {
  /** The API schema, for validating operations. */
  schema: GraphQLSchema;
  execute(args: ExecutionArgs): Promise<ExecutionResult>;
  subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult>;
  /** Subgraph subscriptions open now, and upstream sockets (for metrics and tests). */
  stats(): { upstreamSubscriptions: number; upstreamSockets: number };
}

export function createFederatedExecution(options: FederatedExecutionOptions): FederatedExecution {
  const { dataSources, routingUrls, logger, maxBufferedEvents = 1_000, planCacheSize = 1_000 } = options;
  const supergraph = Supergraph.build(options.supergraphSdl);
  const apiSchema: Schema = supergraph.apiSchema();
  const schema = apiSchema.toGraphQLJSSchema();
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const planner = new QueryPlanner(supergraph);
  const plans = new Map<string, QueryPlan>();
  const upstreams = new WeakMap<Session, UpstreamConnections>();
  const counters = { upstreamSubscriptions: 0, upstreamSockets: 0 };

  const planFor = (request: WsRequest): QueryPlan => {
    const key = `${request.operationName ?? ''}\n${request.query}`;
    let plan = plans.get(key);
    if (plan) {
      plans.delete(key); // re-inserted below: the map's order is recency
    } else {
      plan = planner.buildQueryPlan(operationFromDocument(apiSchema, request.document, { operationName: request.operationName }));
      if (plans.size >= planCacheSize) plans.delete(plans.keys().next().value!);
    }
    plans.set(key, plan);
    return plan;
  };

  const run = (plan: QueryPlan, serviceMap: Record<string, GraphQLDataSource>, request: WsRequest, operationContext: ReturnType<typeof buildOperationContext>) => {
    const { session } = request;
    // What the gateway reads of Apollo's request context; a fresh one per run (metrics collect error paths).
    const requestContext = {
      request: { query: request.query, operationName: request.operationName, variables: request.variables },
      // The router's RouterContext: the subgraph data sources forward this Authorization (the latest refreshed one).
      context: { identity: session.identity, authorization: session.authorization },
      logger,
      schema,
      document: request.document,
      source: request.query,
      operationName: request.operationName ?? null,
      operation: request.operation,
      queryHash: '',
      metrics: {},
    } as unknown as GatewayRequestContext;
    return executeQueryPlan(plan, serviceMap, requestContext, operationContext, supergraphSchema, apiSchema);
  };

  const contextOf = (args: ExecutionArgs): WsRequest => (args.contextValue as FederatedContext).request;
  const operationContextOf = (request: WsRequest) => buildOperationContext({ schema, operationDocument: request.document, operationName: request.operationName });

  const execute = async (args: ExecutionArgs): Promise<ExecutionResult> => {
    const request = contextOf(args);
    const plan = planFor(request);
    if (plan.node?.kind === 'Subscription') throw new Error('execute() called with a subscription');
    return run(plan, { ...dataSources }, request, operationContextOf(request));
  };

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const request = contextOf(args);
    const plan = planFor(request);
    if (plan.node?.kind !== 'Subscription') return execute(args);
    const { primary, rest } = plan.node;
    const operationContext = operationContextOf(request);
    const perEvent: QueryPlan = { kind: 'QueryPlan', node: rest ? { kind: 'Sequence', nodes: [primary, rest] } : primary };

    let connections = upstreams.get(request.session);
    if (!connections) {
      connections = new UpstreamConnections(request.session, routingUrls, counters, logger);
      upstreams.set(request.session, connections);
    }
    const events = connections.subscribe(primary, variablesFor(primary, request.variables), maxBufferedEvents);
    return mapAsync(events, (event) => {
      // The primary fetch answers with this event; every other subgraph is fetched as usual.
      const fromEvent: GraphQLDataSource = { process: async () => event };
      return run(perEvent, { ...dataSources, [primary.serviceName]: fromEvent }, request, operationContext);
    });
  };

  return { schema, execute, subscribe, stats: () => ({ ...counters }) };
}

/**
 * Refuses subscription operations over HTTP with a 400 that says where they are served (the gateway
 * would fail them with a 500).
 */
export function subscriptionsOverWebSocketOnly<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws, subprotocol graphql-transport-ws) at this URL, not over HTTP', {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          });
        },
      };
    },
  };
}

/** The variables a fetch uses, as the gateway picks them. */
function variablesFor(fetch: FetchNode, variables: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of fetch.variableUsages ?? []) if (Object.hasOwn(variables, name) && variables[name] !== undefined) picked[name] = variables[name];
  return picked;
}

/** The routing URL with the WebSocket scheme: same host, port and path. */
export function webSocketUrl(url: string): string {
  const ws = new URL(url);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return ws.href;
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'number' && 'reason' in value;
}

function upstreamFailure(serviceName: string, failure: unknown): GraphQLError {
  if (isCloseEvent(failure)) {
    const code = failure.code === 4401 ? ErrorCode.UNAUTHENTICATED : failure.code === 4403 ? ErrorCode.FORBIDDEN : SubscriptionErrorCode.SUBGRAPH_SUBSCRIPTION_FAILED;
    return new GraphQLError(`Subscription to subgraph "${serviceName}" closed (${failure.code}${failure.reason ? `: ${failure.reason}` : ''})`, { extensions: { code, serviceName } });
  }
  return new GraphQLError(`Subscription to subgraph "${serviceName}" failed`, { extensions: { code: SubscriptionErrorCode.SUBGRAPH_SUBSCRIPTION_FAILED, serviceName } });
}

const areFormattedErrors = (value: unknown): value is GraphQLFormattedError[] =>
  Array.isArray(value) && value.length > 0 && value.every((e) => typeof e === 'object' && e !== null && typeof e.message === 'string');

interface Upstream {
  client: Client;
  socket: WebSocket | undefined;
}

/**
 * A client connection's subgraph subscriptions: one graphql-ws connection per subgraph, opened on
 * the first subscription and closed with the last (lazy), authenticated with the client's current
 * token. A token refresh is passed on in a `ping` to every open subgraph connection (the same
 * protocol the router accepts), and new connections use the new token. All are closed with the
 * client's connection.
 */
class UpstreamConnections {
  readonly #session: Session;
  readonly #routingUrls: ReadonlyMap<string, string>;
  readonly #counters: { upstreamSubscriptions: number; upstreamSockets: number };
  readonly #logger: Logger;
  readonly #clients = new Map<string, Upstream>();

  constructor(session: Session, routingUrls: ReadonlyMap<string, string>, counters: { upstreamSubscriptions: number; upstreamSockets: number }, logger: Logger) {
    this.#session = session;
    this.#routingUrls = routingUrls;
    this.#counters = counters;
    this.#logger = logger;
    session.onRefresh(() => this.#forwardRefresh());
    session.onClose(() => this.#dispose());
  }

  /** The primary fetch's results, as an iterator that unsubscribes upstream when returned. */
  subscribe(fetch: FetchNode, variables: Record<string, unknown>, maxBuffered: number): AsyncIterableIterator<FormattedExecutionResult> {
    const { serviceName } = fetch;
    const upstream = this.#upstream(serviceName);
    let unsubscribe = () => {};
    let active = true;
    const finished = () => {
      if (!active) return;
      active = false;
      this.#counters.upstreamSubscriptions--;
    };
    const events = pushable<FormattedExecutionResult>({
      maxBuffered,
      overflow: () => new GraphQLError('Events came faster than the client read them', { extensions: { code: SubscriptionErrorCode.SUBSCRIPTION_OVERFLOW } }),
      onReturn: () => {
        finished();
        unsubscribe();
      },
    });
    this.#counters.upstreamSubscriptions++;
    unsubscribe = upstream.client.subscribe<Record<string, unknown>, Record<string, unknown>>(
      { query: fetch.operation, operationName: fetch.operationName ?? null, variables },
      {
        next: (event) => events.push(event),
        error: (failure) => {
          finished();
          if (areFormattedErrors(failure)) {
            // The subgraph refused the operation: its errors go through the same shaping as any event.
            events.push({ errors: failure });
            events.end();
            return;
          }
          this.#logger.warn({ subgraph: serviceName, failure: isCloseEvent(failure) ? { code: failure.code, reason: failure.reason } : String(failure) }, 'subgraph subscription failed');
          events.fail(upstreamFailure(serviceName, failure));
        },
        complete: () => {
          finished();
          events.end();
        },
      },
    );
    return events.iterator;
  }

  #upstream(serviceName: string): Upstream {
    const existing = this.#clients.get(serviceName);
    if (existing) return existing;
    const url = this.#routingUrls.get(serviceName);
    if (!url) throw new Error(`No routing URL for subgraph "${serviceName}"`);
    const upstream: Upstream = { socket: undefined, client: undefined as unknown as Client };
    upstream.client = createClient({
      url: webSocketUrl(url),
      webSocketImpl: WebSocket,
      // Connect with the first subscription, close with the last.
      lazy: true,
      lazyCloseTimeout: 0,
      // A resubscription could miss or repeat events; the client resubscribes with its own cursor instead.
      retryAttempts: 0,
      connectionAckWaitTimeout: 10_000,
      connectionParams: () => ({ authorization: this.#session.authorization }),
      on: {
        connected: (socket) => {
          upstream.socket = socket as WebSocket;
          this.#counters.upstreamSockets++;
        },
        closed: () => {
          if (!upstream.socket) return;
          upstream.socket = undefined;
          this.#counters.upstreamSockets--;
        },
      },
    });
    this.#clients.set(serviceName, upstream);
    return upstream;
  }

  #forwardRefresh(): void {
    const message = JSON.stringify({ type: 'ping', payload: { authorization: this.#session.authorization } });
    for (const { socket } of this.#clients.values()) if (socket?.readyState === WebSocket.OPEN) socket.send(message);
  }

  #dispose(): void {
    for (const { client } of this.#clients.values()) Promise.resolve(client.dispose()).catch(() => {});
    this.#clients.clear();
  }
}
