import type { GraphQLDataSource } from '@apollo/gateway';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { FetchNode, QueryPlan } from '@apollo/query-planner';
import { ErrorCode } from '@shopgraph/kit/errors';
import type { Session, WsRequest } from '@shopgraph/kit/graphql-ws';
import type { Logger } from '@shopgraph/kit/log';
import { mapAsync, pushable, type PushIterator } from '@shopgraph/kit/stream';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import {
  getOperationAST, GraphQLError, parse, print, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import WebSocket from 'ws';
import { variablesFor, type GatewayRequestContext, type PlanExecution, type PreparedOperation } from './execution.ts';

/**
 * Federated operations over the router's WebSocket: queries, mutations and subscriptions planned and
 * run as over HTTP (execution.ts).
 *
 * A subscription plans to `Subscription { primary, rest }`: `primary` is a subscription to the
 * subgraph owning the root field, `rest` fetches the other subgraphs' fields of each event. The
 * router subscribes to that subgraph over graphql-ws (with the client's verified Authorization in
 * `connection_init`) and, for every event, runs the plain plan `Sequence [primary, rest]` with the
 * primary service answering with the event instead of calling the subgraph.
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

export interface FederatedExecutionOptions {
  /** Plans and runs operations (the same as over HTTP). */
  execution: PlanExecution;
  /** The same data sources as over HTTP, by subgraph name, so fetches forward Authorization and keep alive the same way. */
  dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** Routing URLs (http/https) by subgraph name; subscriptions go to the same URL over ws/wss. */
  routingUrls: ReadonlyMap<string, string>;
  logger: Logger;
  /**
   * Events buffered per subscription for a slow client before it is ended with SUBSCRIPTION_OVERFLOW
   * (those executed per event; a passed-through one is bounded by the WebSocket's buffered bytes).
   */
  maxBufferedEvents?: number;
}

export interface FederatedExecution {
  /** The API schema, for validating operations. */
  schema: GraphQLSchema;
  execute(args: ExecutionArgs): Promise<ExecutionResult>;
  subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult>;
  /** Subgraph subscriptions open now, and upstream sockets (for metrics and tests). */
  stats(): { upstreamSubscriptions: number; upstreamSockets: number };
  /** Closes the subgraph connections (after the clients' sockets). */
  close(): Promise<void>;
}

export function createFederatedExecution(options: FederatedExecutionOptions): FederatedExecution {
  const { execution, dataSources, routingUrls, logger, maxBufferedEvents = 1_000 } = options;
  const { schema } = execution;
  const counters = { upstreamSubscriptions: 0, upstreamSockets: 0 };
  const upstream = new SubgraphSubscriptions(routingUrls, counters, logger);

  const prepare = (request: WsRequest): PreparedOperation => execution.prepare(`${request.operationName ?? ''}\n${request.query}`, request.document, request.operationName);

  const run = (operation: PreparedOperation, services: Record<string, GraphQLDataSource>, request: WsRequest) => {
    const { session } = request;
    // What the executor (and the gateway's, for plans it leaves to it) reads of Apollo's request context; a fresh one per run.
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
    return execution.execute(operation, services, requestContext);
  };

  const contextOf = (args: ExecutionArgs): WsRequest => (args.contextValue as FederatedContext).request;

  const execute = async (args: ExecutionArgs): Promise<ExecutionResult> => {
    const request = contextOf(args);
    return run(prepare(request), dataSources, request);
  };

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const request = contextOf(args);
    const operation = prepare(request);
    const { plan } = operation;
    if (plan.node?.kind !== 'Subscription') return execute(args);
    const { primary } = plan.node;
    const variables = variablesFor(primary, request.variables);
    // Passed through: each event is the answer, so no per-event execution (nor its async step).
    if (passesThrough(plan, request.operation)) return upstream.subscribe(primary, variables, request.session, maxBufferedEvents, (event) => asResult(event, primary.serviceName));
    const perEvent = operation.perEvent!;
    const events = upstream.subscribe(primary, variables, request.session, maxBufferedEvents, (event) => event);
    return mapAsync(events, (event) => {
      // The primary fetch answers with this event; every other subgraph is fetched as usual.
      const fromEvent: GraphQLDataSource = { process: async () => event };
      return run(perEvent, { ...dataSources, [primary.serviceName]: fromEvent }, request);
    });
  };

  return { schema, execute, subscribe, stats: () => ({ ...counters }), close: () => upstream.close() };
}

/**
 * Refuses subscription operations over HTTP with a 400 that says where they are served (executing
 * their plan would fail with a 500).
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

const passThrough = new WeakMap<QueryPlan, boolean>();

/** A subgraph's event as the client's result: its errors as GraphQL errors naming the subgraph, as the executor reports a fetch's. */
function asResult(event: FormattedExecutionResult, serviceName: string): ExecutionResult {
  if (!event.errors?.length) return event as ExecutionResult;
  const errors = event.errors.map((error) => new GraphQLError(error.message, { path: error.path, extensions: { ...error.extensions, serviceName } }));
  return { ...event, data: event.data ?? null, errors } as ExecutionResult;
}

/**
 * Whether each event of the subscription is already the answer: no other subgraph to fetch, and the
 * primary fetch selects exactly what the client did (no fragments, directives or rewrites to apply).
 * The subgraph then executed the client's very selection, so the event skips per-event execution.
 */
function passesThrough(plan: QueryPlan, operation: OperationDefinitionNode): boolean {
  let known = passThrough.get(plan);
  if (known === undefined) {
    const node = plan.node;
    known = node?.kind === 'Subscription' && !node.rest && !node.primary.requires && !node.primary.inputRewrites?.length && !node.primary.outputRewrites?.length
      && print(operation.selectionSet) === print(getOperationAST(parse(node.primary.operation))!.selectionSet);
    passThrough.set(plan, known);
  }
  return known;
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
 * The router's subgraph subscriptions: one graphql-ws connection per subgraph, shared by all clients
 * (opened with the first subscription, closed a little after the last), each subscription carrying
 * its client's current token in `extensions.authorization`, so the subgraph verifies, authorizes and
 * expires each one as its user's (kit graphql-ws, `operationTokens`). A client's token refresh is
 * passed on in a `ping` naming its subscriptions. When the connection drops, its subscriptions end
 * with SUBGRAPH_SUBSCRIPTION_FAILED: a silent resubscription could miss or repeat events, a client
 * resubscribes with its own cursor.
 */
class SubgraphSubscriptions {
  readonly #routingUrls: ReadonlyMap<string, string>;
  readonly #counters: { upstreamSubscriptions: number; upstreamSockets: number };
  readonly #logger: Logger;
  readonly #clients = new Map<string, Upstream>();
  /** Subscribe payloads' ids, so a refresh can name them. */
  readonly #ids = new WeakMap<object, string>();
  #lastId = 0;

  constructor(routingUrls: ReadonlyMap<string, string>, counters: { upstreamSubscriptions: number; upstreamSockets: number }, logger: Logger) {
    this.#routingUrls = routingUrls;
    this.#counters = counters;
    this.#logger = logger;
  }

  /**
   * The primary fetch's results through `map`, as an iterator that unsubscribes upstream when returned.
   * The WebSocket server takes a passed-through subscription's results as they come (`deliverTo`).
   */
  subscribe<T>(fetch: FetchNode, variables: Record<string, unknown>, session: Session, maxBuffered: number, map: (event: FormattedExecutionResult) => T): PushIterator<T> {
    const { serviceName } = fetch;
    const upstream = this.#upstream(serviceName);
    const id = String(++this.#lastId);
    const extensions = { authorization: session.authorization };
    const payload = { query: fetch.operation, operationName: fetch.operationName ?? null, variables, extensions };
    this.#ids.set(payload, id);
    const stopForwardingRefreshes = session.onRefresh(() => {
      // Read when the subscribe message is sent (after connecting), else sent on in a ping.
      extensions.authorization = session.authorization;
      if (upstream.socket?.readyState === WebSocket.OPEN) upstream.socket.send(JSON.stringify({ type: 'ping', payload: { operations: { [id]: session.authorization } } }));
    });
    let unsubscribe = () => {};
    let active = true;
    const finished = () => {
      if (!active) return;
      active = false;
      stopForwardingRefreshes();
      this.#counters.upstreamSubscriptions--;
    };
    const events = pushable<T>({
      maxBuffered,
      overflow: () => new GraphQLError('Events came faster than the client read them', { extensions: { code: SubscriptionErrorCode.SUBSCRIPTION_OVERFLOW } }),
      onReturn: () => {
        finished();
        unsubscribe();
      },
    });
    this.#counters.upstreamSubscriptions++;
    unsubscribe = upstream.client.subscribe<Record<string, unknown>, Record<string, unknown>>(payload, {
      next: (event) => events.push(map(event)),
      error: (failure) => {
        finished();
        if (areFormattedErrors(failure)) {
          // The subgraph refused the operation: its errors go through the same shaping as any event.
          events.push(map({ errors: failure }));
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
    });
    return events.iterator;
  }

  /** Closes every subgraph connection now. */
  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map(({ client }) => Promise.resolve(client.dispose()).catch(() => {})));
    this.#clients.clear();
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
      // No token of its own: each subscription carries its client's.
      connectionParams: { operationTokens: true },
      generateID: (payload) => this.#ids.get(payload) ?? String(++this.#lastId),
      // Connect with the first subscription; close a little after the last (not on every client's churn).
      lazy: true,
      lazyCloseTimeout: 2_000,
      // A resubscription could miss or repeat events; the client resubscribes with its own cursor instead.
      retryAttempts: 0,
      connectionAckWaitTimeout: 10_000,
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
}
