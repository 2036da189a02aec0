import type { FetchNode } from '@apollo/query-planner';
import { ErrorCode } from '@shopgraph/core/errors';
import type { Session } from '@shopgraph/core/session';
import type { Logger } from '@shopgraph/core/log';
import { pushable, type Pushable, type PushIterator } from '@shopgraph/core/stream';
import type { FormattedExecutionResult, SubscribePayload } from 'graphql-ws';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { SubgraphConnection, type OperationFailure, type OperationSink, type SubgraphConnectionOptions } from './subgraph-connection.ts';

/** How every upstream connection is kept bounded: connect, ping and pong timeouts (subgraph-connection.ts). */
export type UpstreamConnectionOptions = Pick<SubgraphConnectionOptions, 'ackTimeoutMs' | 'pingIntervalMs' | 'pongTimeoutMs'>;

/**
 * The router's side of subgraph subscriptions: a subscription plans to `Subscription { primary,
 * rest }`, and `primary` is a subscription to the subgraph owning the root field, made over
 * graphql-ws on one connection per subgraph (subgraph-connection.ts) shared by every client.
 */

/** Codes of errors a federated subscription can end with, besides those subgraphs send. */
export const SubscriptionErrorCode = {
  /** The subgraph's subscription ended abnormally (socket closed, unreachable). Resubscribe. */
  SUBGRAPH_SUBSCRIPTION_FAILED: 'SUBGRAPH_SUBSCRIPTION_FAILED',
  /** The client read events slower than they came, past the buffer. Resubscribe. */
  SUBSCRIPTION_OVERFLOW: 'SUBSCRIPTION_OVERFLOW',
} as const;

/** A subgraph's event as the client's result: its errors as GraphQL errors naming the subgraph, as the executor reports a fetch's. */
export function asResult(event: FormattedExecutionResult, serviceName: string): ExecutionResult {
  if (!event.errors?.length) return event as ExecutionResult;
  const errors = event.errors.map((error) => new GraphQLError(error.message, { path: error.path, extensions: { ...error.extensions, serviceName } }));
  return { ...event, data: event.data ?? null, errors } as ExecutionResult;
}

/** The routing URL with the WebSocket scheme: same host, port and path. */
export function webSocketUrl(url: string): string {
  const ws = new URL(url);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return ws.href;
}

function upstreamFailure(serviceName: string, { code, reason }: { code: number; reason: string }): GraphQLError {
  const errorCode = code === 4401 ? ErrorCode.UNAUTHENTICATED : code === 4403 ? ErrorCode.FORBIDDEN : SubscriptionErrorCode.SUBGRAPH_SUBSCRIPTION_FAILED;
  return new GraphQLError(`Subscription to subgraph "${serviceName}" closed (${code}${reason ? `: ${reason}` : ''})`, { extensions: { code: errorCode, serviceName } });
}

const overflowError = () => new GraphQLError('Events came faster than the client read them', { extensions: { code: SubscriptionErrorCode.SUBSCRIPTION_OVERFLOW } });

/** How a subgraph's event becomes what the client's stream carries. */
export type EventMapper<T> = (event: FormattedExecutionResult, serviceName: string) => T;

/** A subscription to a subgraph: its stream, and how the router ends it (the supergraph changed under it). */
export interface UpstreamHandle<T> {
  readonly iterator: PushIterator<T>;
  /** Unsubscribes upstream and ends the stream with `error` after the events already queued. */
  end(error: GraphQLError): void;
}

/**
 * The router's subgraph subscriptions: one connection per subgraph URL (subgraph-connection.ts),
 * shared by all clients and by every supergraph generation that routes there, each subscription
 * carrying its client's current token in `extensions.authorization`, so the subgraph verifies,
 * authorizes and expires each one as its user's (kit graphql-ws, `operationTokens`). A client's
 * token refresh is passed on in a `ping` naming its subscription. When the connection drops, its
 * subscriptions end with SUBGRAPH_SUBSCRIPTION_FAILED: a silent resubscription could miss or repeat
 * events, a client resubscribes with its own cursor. A connection that stops answering pings counts
 * as dropped (a half-open socket), so a dead path is noticed within a ping interval and a pong timeout.
 */
export class SubgraphSubscriptions {
  readonly #logger: Logger;
  /** By routing URL (http/https). */
  readonly #connections = new Map<string, SubgraphConnection>();
  readonly #connectionOptions: UpstreamConnectionOptions;
  #lastId = 0;

  constructor(logger: Logger, connectionOptions: UpstreamConnectionOptions = {}) {
    this.#logger = logger;
    this.#connectionOptions = connectionOptions;
  }

  /**
   * The primary fetch's results through `map`, as an iterator that unsubscribes upstream when returned;
   * `onEnd` runs once, however it ends. The WebSocket server takes a passed-through subscription's
   * results as they come (`deliverTo`).
   */
  subscribe<T>(fetch: FetchNode, url: string, variables: Record<string, unknown>, session: Session, maxBuffered: number, map: EventMapper<T>, onEnd?: () => void): UpstreamHandle<T> {
    const payload = { query: fetch.operation, operationName: fetch.operationName ?? null, variables, extensions: { authorization: session.authorization } };
    return new UpstreamSubscription(this.#connection(url), String(++this.#lastId), payload, session, fetch.serviceName, map, maxBuffered, this.#logger, onEnd);
  }

  stats(): { upstreamSubscriptions: number; upstreamSockets: number } {
    let upstreamSubscriptions = 0;
    let upstreamSockets = 0;
    for (const connection of this.#connections.values()) {
      upstreamSubscriptions += connection.size;
      if (connection.open) upstreamSockets++;
    }
    return { upstreamSubscriptions, upstreamSockets };
  }

  /** Closes the idle connections to URLs not in `inUse` (subgraphs no supergraph in use routes to). */
  release(inUse: ReadonlySet<string>): void {
    for (const [url, connection] of this.#connections) {
      if (inUse.has(url) || connection.size) continue;
      connection.close();
      this.#connections.delete(url);
    }
  }

  /** Closes every subgraph connection now. */
  close(): void {
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }

  #connection(url: string): SubgraphConnection {
    let connection = this.#connections.get(url);
    if (connection) return connection;
    // No token of its own: each subscription carries its client's.
    connection = new SubgraphConnection({ url: webSocketUrl(url), connectionParams: { operationTokens: true }, ...this.#connectionOptions });
    this.#connections.set(url, connection);
    return connection;
  }
}

/** One client's subscription to a subgraph: the sink of its messages and the stream they go on in, in one object. */
class UpstreamSubscription<T> implements OperationSink, UpstreamHandle<T> {
  readonly #events: Pushable<T>;
  readonly #serviceName: string;
  readonly #session: Session;
  readonly #map: EventMapper<T>;
  readonly #logger: Logger;
  readonly #stop: () => void;
  readonly #stopForwardingRefreshes: () => void;
  #onEnd: (() => void) | undefined;

  constructor(connection: SubgraphConnection, id: string, payload: SubscribePayload & { extensions: { authorization: string } }, session: Session, serviceName: string, map: EventMapper<T>, maxBuffered: number, logger: Logger, onEnd?: () => void) {
    this.#serviceName = serviceName;
    this.#onEnd = onEnd;
    this.#session = session;
    this.#map = map;
    this.#logger = logger;
    this.#events = pushable<T>({ maxBuffered, overflow: overflowError, onReturn: () => this.#finish() });
    this.#stopForwardingRefreshes = session.onRefresh(() => {
      // Read when the subscribe message goes out (if still connecting), else sent on in a ping.
      payload.extensions.authorization = session.authorization;
      connection.ping({ operations: { [id]: session.authorization } });
    });
    this.#stop = connection.subscribe(id, payload, this);
  }

  get iterator(): PushIterator<T> {
    return this.#events.iterator;
  }

  // The subgraph expires the operation at the same `exp` as the session, and its timer may fire
  // first: what it then sends is dropped, so the stream ends as the router ends it at expiry.
  next(event: FormattedExecutionResult): void {
    if (this.#session.expired) return;
    this.#events.push(this.#map(event, this.#serviceName));
  }

  error(failure: OperationFailure): void {
    this.#stopForwardingRefreshes();
    this.#ended();
    if (this.#session.expired) return;
    if ('errors' in failure) {
      // The subgraph refused the operation: its errors go through the same shaping as any event.
      this.#events.push(this.#map({ errors: failure.errors }, this.#serviceName));
      return this.#events.end();
    }
    this.#logger.warn({ subgraph: this.#serviceName, failure }, 'subgraph subscription failed');
    this.#events.fail(upstreamFailure(this.#serviceName, failure));
  }

  complete(): void {
    this.#stopForwardingRefreshes();
    this.#ended();
    if (this.#session.expired) return;
    this.#events.end();
  }

  end(error: GraphQLError): void {
    this.#finish();
    this.#events.fail(error);
  }

  /** The client stopped (or fell behind), or the router ends it: unsubscribe upstream. */
  #finish(): void {
    this.#stopForwardingRefreshes();
    this.#stop();
    this.#ended();
  }

  #ended(): void {
    const onEnd = this.#onEnd;
    this.#onEnd = undefined;
    onEnd?.();
  }
}
