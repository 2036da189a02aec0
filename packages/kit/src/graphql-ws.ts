import { CloseCode, handleProtocols, makeServer, MessageType, type Context, type ExecutionResult, type OperationResult, type SubscribePayload } from 'graphql-ws';
import {
  createSourceEventStream, execute as graphqlExecute, getOperationAST, getVariableValues, GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules,
  subscribe as graphqlSubscribe, validate,
  type DocumentNode, type ExecutionArgs, type FormattedExecutionResult, type ParseOptions, type GraphQLSchema, type OperationDefinitionNode, type ValidationRule,
} from 'graphql';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { WebSocketServer, type WebSocket } from 'ws';
import { identityFromAuthorization, type Identity, type TokenVerifier } from './auth.ts';
import { assertMeets, guardedFieldsOf, type Requirement } from './authz.ts';
import { ErrorCode, graphqlError } from './errors.ts';
import { maskUnexpectedErrors } from './graphql.ts';
import { operationGuards, type Limits } from './limits.ts';
import type { Logger } from './log.ts';
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
 * - Every subscribe message is parsed with the token cap, validated with graphql's rules plus the
 *   operation limits, and checked against `@authenticated`/`@requiresScopes` before anything runs;
 *   a refused one gets an `error` message with a stable code, and the connection stays up. Parsed
 *   and validated documents are cached by their text: a thousand clients sending the same
 *   subscription share one document.
 * - With `operationTokens` (subgraphs), a connection may instead carry many users' operations, each
 *   with its own token in `extensions.authorization`: a router multiplexes its clients' subscriptions
 *   over one connection per subgraph. Such a connection says so in `connection_init`
 *   (`{ operationTokens: true }`, no token of its own); each operation is verified, authorized and
 *   expired on its own (it ends with UNAUTHENTICATED "Token expired" at its token's `exp`), and is
 *   refreshed with a `ping` payload `{ operations: { <id>: 'Bearer …' } }`.
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
  GOING_AWAY: 1001,
} as const;

/** Stable `extensions.code`s of refused subscribe messages, besides the kit's UNAUTHENTICATED / FORBIDDEN / BAD_USER_INPUT. */
export const WsErrorCode = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
  TOO_MANY_OPERATIONS: 'TOO_MANY_OPERATIONS',
} as const;

/** One authenticated connection: the caller as of its latest accepted token. */
export class Session {
  #identity: Identity;
  #authorization: string;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #expire: () => void;
  readonly #onRefresh = new Set<(session: Session) => void>();
  readonly #onClose = new Set<() => void>();

  constructor(identity: Identity, authorization: string, expire: () => void) {
    this.#identity = identity;
    this.#authorization = authorization;
    this.#expire = expire;
    this.#arm();
  }

  get identity(): Identity {
    return this.#identity;
  }

  /** The verified `Authorization` value (`Bearer …`), for calls made on the caller's behalf. */
  get authorization(): string {
    return this.#authorization;
  }

  get expired(): boolean {
    return this.#identity.expiresAt * 1000 <= Date.now();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs after each accepted token refresh; returns an unsubscribe function. */
  onRefresh(listener: (session: Session) => void): () => void {
    this.#onRefresh.add(listener);
    return () => this.#onRefresh.delete(listener);
  }

  /** Runs once, when the socket has closed (after its operations were stopped). */
  onClose(listener: () => void): () => void {
    if (this.#closed) {
      listener();
      return () => {};
    }
    this.#onClose.add(listener);
    return () => this.#onClose.delete(listener);
  }

  refresh(identity: Identity, authorization: string): void {
    this.#identity = identity;
    this.#authorization = authorization;
    this.#arm();
    for (const listener of this.#onRefresh) listener(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
    this.#onRefresh.clear();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    // setTimeout holds at most ~24.8 days; a longer-lived token re-arms when that fires.
    const delay = Math.min(Math.max(this.#identity.expiresAt * 1000 - Date.now(), 0), 2 ** 31 - 1);
    this.#timer = setTimeout(() => (this.expired ? this.#expire() : this.#arm()), delay);
    this.#timer.unref();
  }
}

/** The `Authorization` value in a `connection_init` or `ping` payload, if any. */
export function authorizationOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const fields = payload as Record<string, unknown>;
  const header = fields['authorization'] ?? fields['Authorization'];
  if (typeof header === 'string' && header) return header;
  const token = fields['token'];
  if (typeof token === 'string' && token) return `Bearer ${token}`;
  return undefined;
}

/** What the server knows of a subscribe message once it has been accepted. */
export interface WsRequest {
  session: Session;
  query: string;
  operationName: string | undefined;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown>;
}

export type WsExecute = (args: ExecutionArgs) => OperationResult;

export interface GraphQLWsOptions<C> {
  /** The schema operations are validated against (the router: its API schema). */
  schema: GraphQLSchema;
  verifier: TokenVerifier;
  limits: Limits;
  logger: Logger;
  production: boolean;
  /** Defaults to `/graphql`; upgrades to any other path are refused. */
  path?: string;
  /** Checked before execution, like the router's HTTP plugin (coordinate → requirement). */
  requirements?: ReadonlyMap<string, Requirement>;
  /** The `contextValue` operations run with. */
  context: (request: WsRequest) => C | Promise<C>;
  /**
   * With graphql-js's own `subscribe` (no `subscribe` option): the context each event of a
   * subscription is executed with, built anew per event, so the event's fields read current data
   * (fresh loaders, a fresh database session) as a new HTTP request would, with the connection's
   * current identity. Without it every event runs with the subscription's own context.
   */
  eventContext?: (request: WsRequest) => C | Promise<C>;
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
  /** Parsed and validated documents kept, by query text. */
  documentCacheSize?: number;
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

const codeOf = (error: GraphQLError, code: string): GraphQLError =>
  new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });

/** A close reason must fit in 123 bytes (ws throws otherwise). */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -2);
  if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, text);
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function serveGraphQLOverWebSocket<C>(server: Server, options: GraphQLWsOptions<C>): GraphQLWsServer {
  const { schema, verifier, logger, requirements, path = '/graphql', maxOperationsPerConnection = 100, maxOperationsPerSharedConnection = 100_000, maxBufferedBytes = 1024 * 1024 } = options;
  const guards = operationGuards(options.limits);
  const rules: ValidationRule[] = [...specifiedRules, ...guards.validationRules, ...(options.production ? [NoSchemaIntrospectionCustomRule] : [])];
  const mask = maskUnexpectedErrors(logger);
  const connections = new WeakMap<WebSocket, Connection>();
  const documents = documentCache(schema, rules, guards.parseOptions, options.documentCacheSize ?? 1_000);
  type Ctx = Context<Record<string, unknown> | undefined, { socket: WebSocket }>;

  // Nothing an operation does may throw into graphql-ws: it would close the whole socket with 4500.
  const safely = (run: WsExecute): WsExecute => async (args) => {
    try {
      return await run(args);
    } catch (error) {
      return { errors: [error instanceof GraphQLError ? error : new GraphQLError(messageOf(error), { originalError: error instanceof Error ? error : undefined })] };
    }
  };
  // The request each subscription's context was built for, so each of its events can get a fresh context.
  const requests = new WeakMap<object, WsRequest>();
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
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws));
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

  const protocol = makeServer<Record<string, unknown> | undefined, { socket: WebSocket }>({
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
      const session = new Session(identity, authorization, () => closeSocket(socket, WsCloseCode.UNAUTHORIZED, 'Token expired'));
      connections.set(socket, { session, operations: new Map() });
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
      const parsed = documents.get(payload.query);
      if ('errors' in parsed) return parsed.errors;
      const { document } = parsed;
      const operationName = payload.operationName ?? undefined;
      const operation = getOperationAST(document, operationName);
      if (!operation) {
        return [new GraphQLError(operationName ? `Unknown operation named "${operationName}"` : 'Must provide operation name if query contains multiple operations', { extensions: { code: WsErrorCode.OPERATION_RESOLUTION_FAILURE } })];
      }
      if (requirements) {
        try {
          // With the identity the operation runs with now (a refresh may have changed its scopes).
          for (const [coordinate, requirement] of guardedFieldsOf(schema, document, operation, requirements)) assertMeets(identity, requirement, coordinate);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
      }
      const variables = (payload.variables ?? {}) as Record<string, unknown>;
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 25 });
      if (coerced.errors) return coerced.errors.map((error) => codeOf(error, ErrorCode.BAD_USER_INPUT));
      let session = connection.session;
      if (!session) {
        const operationState = sharedOperation(identity, authorization);
        connection.operations.set(id, operationState);
        session = operationState.session;
        options.onSession?.(session);
      }
      const request: WsRequest = { session, query: payload.query, operationName, document, operation, variables };
      const contextValue = await options.context(request);
      if (typeof contextValue === 'object' && contextValue !== null) requests.set(contextValue, request);
      // Variables go on as sent: graphql-js and subgraphs coerce them themselves.
      return { schema, document, operationName, variableValues: variables, contextValue } satisfies ExecutionArgs;
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

  // Keep-alive: one rolling sweep over all sockets (not a timer per socket) pings each once per
  // interval, and drops one that has not answered a ping for an interval. A lap is TICKS ticks of
  // the interval, each visiting its share of the sockets: pinging 10,000s at once (and reading their
  // pongs) would hold up deliveries.
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const TICKS = 50;
  const tickMs = keepAliveMs / TICKS;
  /** Sockets pinged and not answered yet, with when. */
  const awaitingPong = new Map<WebSocket, number>();
  function onPong(this: WebSocket) {
    awaitingPong.delete(this);
  }
  // A Set's iterator is live: it skips sockets closed since and reaches those opened since.
  let lap = wss.clients.values();
  let tick = 0;
  const sweepSlice = () => {
    if (tick++ % TICKS === 0) lap = wss.clients.values();
    const now = performance.now();
    for (let due = Math.ceil(wss.clients.size / TICKS); due > 0; due--) {
      const next = lap.next();
      if (next.done) return;
      const socket = next.value;
      const pingedAt = awaitingPong.get(socket);
      // Half a tick of slack: timers are late, never early, but a lap's ticks are not exact.
      if (pingedAt !== undefined) {
        if (now - pingedAt >= keepAliveMs - tickMs / 2) socket.terminate();
      } else if (socket.readyState === socket.OPEN) {
        awaitingPong.set(socket, now);
        socket.ping();
      }
    }
  };
  const keepAlive = setInterval(sweepSlice, tickMs);
  keepAlive.unref();

  wss.on('connection', (socket: WebSocket) => {
    socket.on('error', onSocketError);
    socket.on('pong', onPong);
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
    }, { socket });
    socket.once('close', (code, reason) => {
      awaitingPong.delete(socket);
      void closed(code, String(reason));
    });
  });

  return {
    get connections() {
      return wss.clients.size;
    },
    async close(graceMs = 2_000) {
      closing = true;
      clearInterval(keepAlive);
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
}

/** An operation on a shared connection: its own session, and a way to end it from the server. */
interface SharedOperation {
  session: Session;
  /** Ends the operation's stream with one last result carrying `error` (expiry, a refused refresh). */
  end(error: GraphQLError): void;
  /** The stream the operation's results flow through, ended by `end`. */
  bind(source: AsyncIterator<ExecutionResult>): AsyncIterableIterator<ExecutionResult>;
}

function sharedOperation(identity: Identity, authorization: string): SharedOperation {
  let ending: GraphQLError | undefined;
  let wake = () => {};
  const ended = new Promise<void>((resolve) => (wake = resolve));
  const end = (error: GraphQLError) => {
    if (ending) return;
    ending = error;
    session.close();
    wake();
  };
  const session = new Session(identity, authorization, () => end(graphqlError(ErrorCode.UNAUTHENTICATED, 'Token expired')));
  const bind = (source: AsyncIterator<ExecutionResult>): AsyncIterableIterator<ExecutionResult> => {
    let finished = false;
    const finish = async (): Promise<IteratorResult<ExecutionResult>> => {
      if (!finished) {
        finished = true;
        await source.return?.();
      }
      return { value: undefined, done: true };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        if (finished) return { value: undefined, done: true };
        const next = await Promise.race([source.next(), ended.then(() => undefined)]);
        if (next && !ending) return next;
        if (next?.done || finished) return finish();
        // The last result says why; the stream ends with the next call.
        void finish();
        return { value: { errors: [ending!] }, done: false };
      },
      return: finish,
      async throw(error: unknown) {
        await finish();
        throw error;
      },
    };
  };
  return { session, end, bind };
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/** Parsed and validated documents by query text (least recently used first out), or why one is refused. */
function documentCache(schema: GraphQLSchema, rules: ValidationRule[], parseOptions: ParseOptions, size: number) {
  type Entry = { document: DocumentNode } | { errors: readonly GraphQLError[] };
  const cache = new LRUCache<string, Entry>({ max: size });
  return {
    get(query: string): Entry {
      const cached = cache.get(query);
      if (cached) return cached;
      let document: DocumentNode;
      try {
        document = parse(query, parseOptions);
      } catch (error) {
        // Not cached: a flood of distinct broken documents must not evict the good ones.
        return { errors: [error instanceof GraphQLError ? codeOf(error, WsErrorCode.GRAPHQL_PARSE_FAILED) : new GraphQLError(messageOf(error), { extensions: { code: WsErrorCode.GRAPHQL_PARSE_FAILED } })] };
      }
      const invalid = validate(schema, document, rules);
      const entry: Entry = invalid.length ? { errors: invalid.map((error) => codeOf(error, WsErrorCode.GRAPHQL_VALIDATION_FAILED)) } : { document };
      cache.set(query, entry);
      return entry;
    },
  };
}

/**
 * graphql-js `subscribe`, except that each event is executed with a context built for it (see
 * `eventContext`) instead of the subscription's: the source stream is set up with the
 * subscription's context, each event's selection runs like a new request.
 */
function subscribeWithEventContext<C>(eventContext: (request: WsRequest) => C | Promise<C>, requests: WeakMap<object, WsRequest>): WsExecute {
  return async (args) => {
    const request = typeof args.contextValue === 'object' && args.contextValue !== null ? requests.get(args.contextValue) : undefined;
    if (!request) return graphqlSubscribe(args);
    const source = await createSourceEventStream(args);
    // A refusal (the subscribe resolver threw, e.g. FORBIDDEN): the errors, no stream.
    if (!(Symbol.asyncIterator in source)) return source;
    return mapAsync(source[Symbol.asyncIterator](), async (event) => graphqlExecute({ ...args, rootValue: event, contextValue: await eventContext(request) }));
  };
}
