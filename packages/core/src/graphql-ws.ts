import { CloseCode, handleProtocols, makeServer, MessageType, type Context, type ExecutionResult, type OperationResult, type SubscribePayload } from 'graphql-ws';
import {
  createSourceEventStream, execute as graphqlExecute, GraphQLError, subscribe as graphqlSubscribe,
  type ExecutionArgs, type FormattedExecutionResult, type GraphQLSchema,
} from 'graphql';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { identityFromAuthorization, type Identity, type TokenVerifier } from './auth.ts';
import type { Requirement } from './authz.ts';
import { ErrorCode, graphqlError } from './errors.ts';
import { maskUnexpectedErrors } from './graphql.ts';
import { KeepAlive } from './keep-alive.ts';
import type { Limits } from './limits.ts';
import type { Logger } from './log.ts';
import { isRefusal, OperationErrorCode, operationPreparer, type OperationInput, type PreparedRequest, type Refusal } from './operation.ts';
import { authorizationOf, Session, sharedOperation, type SharedOperation } from './session.ts';
import { isPushIterator, mapAsync } from './stream.ts';

/**
 * GraphQL over WebSocket (the graphql-ws protocol, `graphql-transport-ws`) on an existing node:http
 * server, for signed-in users only, with the same limits and authorization as HTTP:
 *
 * - The access token comes in the `connection_init` payload, `{ authorization: 'Bearer …' }` or
 *   `{ token: '…' }`, and is verified like an `Authorization` header. None, or one that does not
 *   verify: the socket is closed with 4401. There are no anonymous WebSocket connections.
 * - The connection never outlives its token: at the token's `exp` the socket is closed with 4401
 *   "Token expired". Before that, the client may present a fresh token in a `ping` payload (same
 *   shape as `connection_init`); it must verify and be for the same user (else 4401 / 4403). The
 *   `pong` answers only once it is accepted, so a pong means the refresh took.
 * - Every subscribe message goes through the same stages as an HTTP request before anything runs
 *   (`prepare`: by default the kit's operationPreparer, parse with the token cap, validate with the
 *   limits, authorize; the router passes its pipeline's); a refused one gets an `error` message with
 *   a stable code, and the connection stays up.
 * - With `operationTokens` (subgraphs), a connection may instead carry many users' operations, each
 *   with its own token in `extensions.authorization`: a router multiplexes its clients' subscriptions
 *   over one connection per subgraph. Such a connection says so in `connection_init`
 *   (`{ operationTokens: true }`, no token of its own); each operation is verified, authorized and
 *   expired on its own (it ends with UNAUTHENTICATED "Token expired" at its token's `exp`), and is
 *   refreshed with a `ping` payload `{ operations: { <id>: 'Bearer …' } }`.
 * - With `maxConnectionsPerUser`, a user's connection beyond that many open ones is closed with 4029
 *   once its token is verified (the others stay).
 * - A subscription whose stream is a `PushIterator` (stream.ts) has each result sent as it comes, not
 *   pulled with a promise per event as graphql-ws does; its client falling behind by more than
 *   `maxBufferedBytes` ends it with the stream's overflow error.
 *
 * Subgraphs serve their own schema with it (`createSubgraph({ webSocket: true })`, graphql-js's
 * `execute`/`subscribe`); the router passes its federated ones.
 */

/** Close codes this server uses (graphql-ws's own, plus 1001 on shutdown). */
export const WsCloseCode = {
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  /** The user already has `maxConnectionsPerUser` connections open (as HTTP's 429; graphql-ws clients retry it with backoff). */
  TOO_MANY_CONNECTIONS: 4029,
  GOING_AWAY: 1001,
} as const;

/** Stable `extensions.code`s of refused subscribe messages, besides the kit's UNAUTHENTICATED / FORBIDDEN / BAD_USER_INPUT. */
export const WsErrorCode = {
  ...OperationErrorCode,
  TOO_MANY_OPERATIONS: 'TOO_MANY_OPERATIONS',
  /** A connection refused by `maxConnectionsPerUser` (its close reason starts with it). */
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
} as const;

/** Where a connection comes from, as `clientAddress` told when it was opened. */
export interface WsClient {
  address: string;
}

/** What the server knows of a subscribe message once it has been accepted: what `prepare` made of it, and its session. */
export type WsRequest<P extends PreparedRequest = PreparedRequest> = P & { session: Session };

export type WsExecute = (args: ExecutionArgs) => OperationResult;

export interface GraphQLWsOptions<C, P extends PreparedRequest = PreparedRequest> {
  /** The schema operations are validated against (the router: its API schema). */
  schema: GraphQLSchema;
  /**
   * Every check a subscribe message passes before it runs, for the identity it runs as; defaults to
   * the kit's operationPreparer over `schema`, `limits` and `requirements`.
   */
  prepare?: (input: OperationInput, identity: Identity, client: WsClient) => P | Refusal | Promise<P | Refusal>;
  /** The client's address from its upgrade request (behind proxies: what they forwarded); default: the socket's peer. */
  clientAddress?: (request: IncomingMessage) => string;
  /** Connections one user may have open at once (not counting shared connections); default: no limit. */
  maxConnectionsPerUser?: number;
  /** Told of each connection or operation refused by a limit (metrics), by its code. */
  onRefusal?: (code: 'TOO_MANY_CONNECTIONS' | 'TOO_MANY_OPERATIONS') => void;
  verifier: TokenVerifier;
  limits: Limits;
  logger: Logger;
  production: boolean;
  /** Defaults to `/graphql`; upgrades to any other path are refused. */
  path?: string;
  /** Checked before execution by the default `prepare` (coordinate → requirement). */
  requirements?: ReadonlyMap<string, Requirement>;
  /** The `contextValue` operations run with. */
  context: (request: WsRequest<P>) => C | Promise<C>;
  /**
   * With graphql-js's own `subscribe` (no `subscribe` option): the context each event of a
   * subscription is executed with, built anew per event, so the event's fields read current data
   * (fresh loaders, a fresh database session) as a new HTTP request would, with the connection's
   * current identity. Without it every event runs with the subscription's own context.
   */
  eventContext?: (request: WsRequest<P>) => C | Promise<C>;
  /** Queries and mutations; graphql-js `execute` by default. */
  execute?: WsExecute;
  /** Subscriptions; graphql-js `subscribe` by default. */
  subscribe?: WsExecute;
  /** Called for each accepted session: a connection's, or an operation's on a shared connection (metrics, tests). */
  onSession?: (session: Session) => void;
  /** Operations one connection may have running at once. */
  maxOperationsPerConnection?: number;
  /** Accept connections whose operations carry their own tokens (see above): subgraphs behind a router. */
  operationTokens?: boolean;
  /** Operations one such shared connection may have running at once (a router's, for all its clients). */
  maxOperationsPerSharedConnection?: number;
  /** Bytes a connection may have waiting to go out before a pushed result ends its subscription (overflow). */
  maxBufferedBytes?: number;
  /** Interval of WebSocket-level keep-alive pings (default 12 s); a peer that has not answered one by the next is dropped. */
  keepAliveMs?: number;
}

export interface GraphQLWsServer {
  /** Open connections. */
  readonly connections: number;
  /** Refuses new upgrades, closes every socket with 1001 (terminating those that do not close within `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** A close reason must fit in 123 bytes (ws throws otherwise). */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -2);
  if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, text);
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function serveGraphQLOverWebSocket<C, P extends PreparedRequest = PreparedRequest>(server: Server, options: GraphQLWsOptions<C, P>): GraphQLWsServer {
  const { schema, verifier, logger, path = '/graphql', maxOperationsPerConnection = 100, maxOperationsPerSharedConnection = 100_000, maxBufferedBytes = 1024 * 1024, maxConnectionsPerUser = Infinity } = options;
  const prepare: NonNullable<GraphQLWsOptions<C, P>['prepare']> = options.prepare ?? (operationPreparer({ schema, limits: options.limits, production: options.production, requirements: options.requirements }) as unknown as (input: OperationInput, identity: Identity) => P | Refusal);
  const addressOf = options.clientAddress ?? ((request: IncomingMessage) => request.socket.remoteAddress ?? 'unknown');
  const mask = maskUnexpectedErrors(logger);
  const connections = new WeakMap<WebSocket, Connection>();
  /** Where each socket comes from, from its upgrade request. */
  const clients = new WeakMap<WebSocket, WsClient>();
  /** Open connections by user (their own, not shared ones). */
  const openByUser = new Map<string, number>();
  const released = (userId: string) => {
    const left = (openByUser.get(userId) ?? 1) - 1;
    if (left > 0) openByUser.set(userId, left);
    else openByUser.delete(userId);
  };
  type Extra = { socket: WebSocket; client: WsClient };
  type Ctx = Context<Record<string, unknown> | undefined, Extra>;

  // Nothing an operation does may throw into graphql-ws: it would close the whole socket with 4500.
  const safely = (run: WsExecute): WsExecute => async (args) => {
    try {
      return await run(args);
    } catch (error) {
      return { errors: [error instanceof GraphQLError ? error : new GraphQLError(messageOf(error), { originalError: error instanceof Error ? error : undefined })] };
    }
  };
  // The request each subscription's context was built for, so each of its events can get a fresh context.
  const requests = new WeakMap<object, WsRequest<P>>();
  const execute = safely(options.execute ?? graphqlExecute);
  const subscribe = safely(options.subscribe ?? (options.eventContext ? subscribeWithEventContext(options.eventContext, requests) : (graphqlSubscribe as WsExecute)));

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.limits.LIMIT_MAX_BODY_BYTES, handleProtocols });
  let closing = false;
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (closing || pathname !== path) {
      socket.end(`HTTP/1.1 ${closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    // The upgrade request is not kept: 10,000s of connections would each hold its headers.
    const client: WsClient = { address: addressOf(request) };
    wss.handleUpgrade(request, socket, head, (ws) => {
      clients.set(ws, client);
      wss.emit('connection', ws);
    });
  };
  server.on('upgrade', onUpgrade);

  const refuse = async (ctx: Ctx, code: number, reason: string): Promise<false> => {
    closeSocket(ctx.extra.socket, code, reason);
    return false;
  };

  /** The identity a token gives, or the error an operation is refused with. */
  const verify = async (authorization: string): Promise<Identity | GraphQLError> => {
    try {
      return (await identityFromAuthorization(verifier, authorization)) ?? graphqlError(ErrorCode.UNAUTHENTICATED, 'Unauthorized');
    } catch (error) {
      return graphqlError(ErrorCode.UNAUTHENTICATED, `Unauthorized: ${messageOf(error)}`);
    }
  };

  /** What a result is sent as: errors masked like any other (graphql-ws's `onNext` hook). */
  const formatted = (result: ExecutionResult): FormattedExecutionResult | undefined =>
    result.errors?.length ? { ...result, errors: result.errors.map((error) => mask(error.toJSON(), error)) } : undefined;

  /** Sends a pushed result as graphql-ws would send a pulled one; false when the client is too far behind. */
  const sendNext = (socket: WebSocket, id: string) => (result: ExecutionResult): boolean => {
    if (socket.bufferedAmount > maxBufferedBytes) return false;
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ id, type: MessageType.Next, payload: formatted(result) ?? result }));
    return true;
  };

  /** A shared connection's operation ended: its session (and expiry timer) goes with it. */
  const forget = (ctx: Ctx, id: string) => {
    const operations = connections.get(ctx.extra.socket)?.operations;
    operations?.get(id)?.session.close();
    operations?.delete(id);
  };

  const protocol = makeServer<Record<string, unknown> | undefined, Extra>({
    async onConnect(ctx) {
      const socket = ctx.extra.socket;
      const authorization = authorizationOf(ctx.connectionParams);
      if (!authorization && options.operationTokens && ctx.connectionParams?.['operationTokens'] === true) {
        connections.set(socket, { session: undefined, operations: new Map() });
        return true;
      }
      if (!authorization) return refuse(ctx, WsCloseCode.UNAUTHORIZED, 'Unauthorized: connection_init needs { authorization: "Bearer <token>" }');
      const identity = await verify(authorization);
      if (identity instanceof GraphQLError) return refuse(ctx, WsCloseCode.UNAUTHORIZED, identity.message);
      if (socket.readyState !== socket.OPEN) return false;
      const open = openByUser.get(identity.userId) ?? 0;
      if (open >= maxConnectionsPerUser) {
        options.onRefusal?.(WsErrorCode.TOO_MANY_CONNECTIONS);
        return refuse(ctx, WsCloseCode.TOO_MANY_CONNECTIONS, `${WsErrorCode.TOO_MANY_CONNECTIONS}: at most ${maxConnectionsPerUser} per user`);
      }
      // Released when the socket closes, however it closes.
      openByUser.set(identity.userId, open + 1);
      const session = new Session(identity, authorization, () => closeSocket(socket, WsCloseCode.UNAUTHORIZED, 'Token expired'));
      connections.set(socket, { session, operations: new Map(), countedUser: identity.userId });
      options.onSession?.(session);
      // Tells the client when to refresh (seconds since the epoch).
      return { expiresAt: identity.expiresAt };
    },

    async onPing(ctx, payload) {
      const socket = ctx.extra.socket;
      const connection = connections.get(socket);
      if (!connection) return;
      const { session, operations } = connection;
      const authorization = authorizationOf(payload);
      if (session && authorization) {
        const identity = await verify(authorization);
        if (identity instanceof GraphQLError) return void closeSocket(socket, WsCloseCode.UNAUTHORIZED, identity.message);
        if (identity.userId !== session.identity.userId) {
          return void closeSocket(socket, WsCloseCode.FORBIDDEN, 'Forbidden: a refreshed token must be for the same user');
        }
        session.refresh(identity, authorization);
      }
      const refreshes = (payload as { operations?: unknown } | undefined)?.operations;
      if (!session && typeof refreshes === 'object' && refreshes !== null) {
        // A refresh that does not verify, or is for someone else, ends that operation (not the shared connection).
        await Promise.all(Object.entries(refreshes).map(async ([id, value]) => {
          const operation = operations.get(id);
          const fresh = authorizationOf({ authorization: value });
          if (!operation || !fresh) return;
          const identity = await verify(fresh);
          if (identity instanceof GraphQLError) return operation.end(identity);
          if (identity.userId !== operation.session.identity.userId) return operation.end(graphqlError(ErrorCode.FORBIDDEN, 'Forbidden: a refreshed token must be for the same user'));
          operation.session.refresh(identity, fresh);
        }));
      }
    },

    async onSubscribe(ctx, id, payload: SubscribePayload) {
      const connection = connections.get(ctx.extra.socket);
      if (!connection) return [graphqlError(ErrorCode.UNAUTHENTICATED, 'Unauthorized')];
      const shared = !connection.session;
      if (connection.session?.expired) {
        closeSocket(ctx.extra.socket, WsCloseCode.UNAUTHORIZED, 'Token expired');
        return [graphqlError(ErrorCode.UNAUTHENTICATED, 'Token expired')];
      }
      const limit = shared ? maxOperationsPerSharedConnection : maxOperationsPerConnection;
      // A shared connection counts its own operations: listing graphql-ws's per subscribe would be quadratic at 10,000s.
      // (graphql-ws already lists this one; the shared count does not yet.)
      const running = shared ? connection.operations.size + 1 : Object.keys(ctx.subscriptions).length;
      if (running > limit) {
        options.onRefusal?.(WsErrorCode.TOO_MANY_OPERATIONS);
        return [new GraphQLError(`At most ${limit} operations may run at once on one connection`, { extensions: { code: WsErrorCode.TOO_MANY_OPERATIONS } })];
      }
      // On a shared connection, the operation's own token; it is verified before the document is even parsed.
      let identity: Identity;
      let authorization: string;
      if (connection.session) {
        ({ identity, authorization } = connection.session);
      } else {
        const own = authorizationOf(payload.extensions);
        if (!own) return [graphqlError(ErrorCode.UNAUTHENTICATED, 'Unauthorized: an operation on this connection needs extensions: { authorization: "Bearer <token>" }')];
        const verified = await verify(own);
        if (verified instanceof GraphQLError) return [verified];
        identity = verified;
        authorization = own;
      }
      const prepared = await prepare({ query: payload.query, operationName: payload.operationName, variables: payload.variables }, identity, ctx.extra.client);
      if (isRefusal(prepared)) return [...prepared.errors];
      let session = connection.session;
      if (!session) {
        const operationState = sharedOperation(identity, authorization);
        connection.operations.set(id, operationState);
        session = operationState.session;
        options.onSession?.(session);
      }
      const request: WsRequest<P> = { ...prepared, session };
      const contextValue = await options.context(request);
      if (typeof contextValue === 'object' && contextValue !== null) requests.set(contextValue, request);
      // Variables go on as sent: graphql-js and subgraphs coerce them themselves.
      return { schema, document: prepared.document, operationName: prepared.operationName, variableValues: prepared.variables, contextValue } satisfies ExecutionArgs;
    },

    execute,
    subscribe,

    onOperation(ctx, id, _payload, _args, result) {
      // Not if the client completed it meanwhile: graphql-ws returns it without reading it.
      if (isPushIterator<ExecutionResult>(result) && id in ctx.subscriptions) result.deliverTo(sendNext(ctx.extra.socket, id));
      // A shared connection's subscription ends when its own token expires.
      const operation = connections.get(ctx.extra.socket)?.operations.get(id);
      if (operation && isAsyncIterable(result)) return operation.bind(result[Symbol.asyncIterator]());
      return undefined;
    },
    onNext: (_ctx, _id, _payload, _args, result: ExecutionResult) => formatted(result),
    onError(ctx, id, _payload, errors) {
      forget(ctx, id);
      return errors.map((error) => mask(error.toJSON(), error));
    },
    onComplete: forget,
    onClose(ctx) {
      const connection = connections.get(ctx.extra.socket);
      connection?.session?.close();
      for (const { session } of connection?.operations.values() ?? []) session.close();
    },
  });

  const onSocketError = (error: Error) => logger.debug({ err: error }, 'WebSocket error');

  const keepAlive = new KeepAlive(wss, options.keepAliveMs ?? 12_000);

  wss.on('connection', (socket: WebSocket) => {
    const client = clients.get(socket) ?? { address: 'unknown' };
    socket.on('error', onSocketError);
    keepAlive.watch(socket);
    const closed = protocol.opened({
      protocol: socket.protocol,
      // Resolves once written: a pulled stream then reads its next result no faster than the client takes them.
      send: (data) => new Promise<void>((resolve, reject) => {
        if (socket.readyState !== socket.OPEN) return resolve();
        socket.send(data, (error) => (error ? reject(error) : resolve()));
      }),
      close: (code = 1000, reason = '') => closeSocket(socket, code, reason),
      // Not awaited: a subscribe message's handling lasts as long as its subscription.
      onMessage: (handle) => socket.on('message', (data) => void handle(String(data)).catch((error: unknown) => {
        logger.warn({ err: error }, 'graphql-ws message handling failed');
        closeSocket(socket, CloseCode.InternalServerError, 'Internal server error');
      })),
    }, { socket, client });
    socket.once('close', (code, reason) => {
      keepAlive.forget(socket);
      const userId = connections.get(socket)?.countedUser;
      if (userId !== undefined) released(userId);
      void closed(code, String(reason));
    });
  });

  return {
    get connections() {
      return wss.clients.size;
    },
    async close(graceMs = 2_000) {
      closing = true;
      keepAlive.stop();
      const open = [...wss.clients];
      await Promise.all(open.map((socket) => new Promise<void>((resolve) => {
        if (socket.readyState === socket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        closeSocket(socket, WsCloseCode.GOING_AWAY, 'Server shutting down');
        setTimeout(() => socket.terminate(), graceMs).unref();
      })));
      server.off('upgrade', onUpgrade);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A connection: its own session, or none when shared (each operation then has its own). */
interface Connection {
  session: Session | undefined;
  operations: Map<string, SharedOperation>;
  /** The user this connection counts against (`maxConnectionsPerUser`); none for shared connections. */
  countedUser?: string;
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * graphql-js `subscribe`, except that each event is executed with a context built for it (see
 * `eventContext`) instead of the subscription's: the source stream is set up with the
 * subscription's context, each event's selection runs like a new request.
 */
function subscribeWithEventContext<C, P extends PreparedRequest>(eventContext: (request: WsRequest<P>) => C | Promise<C>, requests: WeakMap<object, WsRequest<P>>): WsExecute {
  return async (args) => {
    const request = typeof args.contextValue === 'object' && args.contextValue !== null ? requests.get(args.contextValue) : undefined;
    if (!request) return graphqlSubscribe(args);
    const source = await createSourceEventStream(args);
    // A refusal (the subscribe resolver threw, e.g. FORBIDDEN): the errors, no stream.
    if (!(Symbol.asyncIterator in source)) return source;
    return mapAsync(source[Symbol.asyncIterator](), async (event) => graphqlExecute({ ...args, rootValue: event, contextValue: await eventContext(request) }));
  };
}
