import type { Context, ExecutionResult, OperationResult, SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import {
  createSourceEventStream, execute as graphqlExecute, getOperationAST, getVariableValues, GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules,
  subscribe as graphqlSubscribe, validate,
  type DocumentNode, type ExecutionArgs, type GraphQLSchema, type OperationDefinitionNode, type ValidationRule,
} from 'graphql';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { identityFromAuthorization, type Identity, type TokenVerifier } from './auth.ts';
import { assertMeets, guardedFieldsOf, type Requirement } from './authz.ts';
import { ErrorCode, graphqlError } from './errors.ts';
import { maskUnexpectedErrors } from './graphql.ts';
import { operationGuards, type Limits } from './limits.ts';
import type { Logger } from './log.ts';
import { mapAsync } from './stream.ts';

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
 *   a refused one gets an `error` message with a stable code, and the connection stays up.
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
  /** The HTTP request that opened the WebSocket (its headers, remote address). */
  upgradeRequest: IncomingMessage;
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
  /** Called for each accepted connection (metrics, tests). */
  onSession?: (session: Session) => void;
  /** Operations one connection may have running at once. */
  maxOperationsPerConnection?: number;
  /** Interval of WebSocket-level keep-alive pings; a peer that misses a pong is dropped. */
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
  const { schema, verifier, logger, requirements, path = '/graphql', maxOperationsPerConnection = 100 } = options;
  const guards = operationGuards(options.limits);
  const rules: ValidationRule[] = [...specifiedRules, ...guards.validationRules, ...(options.production ? [NoSchemaIntrospectionCustomRule] : [])];
  const mask = maskUnexpectedErrors(logger);
  const sessions = new WeakMap<WebSocket, Session>();
  type Ctx = Context<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>;

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

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.limits.LIMIT_MAX_BODY_BYTES });
  let closing = false;
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (closing || pathname !== path) {
      socket.end(`HTTP/1.1 ${closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
  server.on('upgrade', onUpgrade);

  const refuse = async (ctx: Ctx, code: number, reason: string): Promise<false> => {
    closeSocket(ctx.extra.socket, code, reason);
    return false;
  };

  useServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>({
    isProd: options.production,
    async onConnect(ctx) {
      const socket = ctx.extra.socket;
      const authorization = authorizationOf(ctx.connectionParams);
      if (!authorization) return refuse(ctx, WsCloseCode.UNAUTHORIZED, 'Unauthorized: connection_init needs { authorization: "Bearer <token>" }');
      let identity: Identity | null;
      try {
        identity = await identityFromAuthorization(verifier, authorization);
      } catch (error) {
        return refuse(ctx, WsCloseCode.UNAUTHORIZED, `Unauthorized: ${messageOf(error)}`);
      }
      if (!identity) return refuse(ctx, WsCloseCode.UNAUTHORIZED, 'Unauthorized');
      if (socket.readyState !== socket.OPEN) return false;
      const session = new Session(identity, authorization, () => closeSocket(socket, WsCloseCode.UNAUTHORIZED, 'Token expired'));
      sessions.set(socket, session);
      options.onSession?.(session);
      // Tells the client when to refresh (seconds since the epoch).
      return { expiresAt: identity.expiresAt };
    },

    async onPing(ctx, payload) {
      const socket = ctx.extra.socket;
      const session = sessions.get(socket);
      const authorization = authorizationOf(payload);
      if (!session || !authorization) return;
      let identity: Identity | null;
      try {
        identity = await identityFromAuthorization(verifier, authorization);
      } catch (error) {
        return void closeSocket(socket, WsCloseCode.UNAUTHORIZED, `Unauthorized: ${messageOf(error)}`);
      }
      if (!identity) return;
      if (identity.userId !== session.identity.userId) {
        return void closeSocket(socket, WsCloseCode.FORBIDDEN, 'Forbidden: a refreshed token must be for the same user');
      }
      session.refresh(identity, authorization);
    },

    async onSubscribe(ctx, _id, payload: SubscribePayload) {
      const session = sessions.get(ctx.extra.socket);
      if (!session || session.expired) {
        closeSocket(ctx.extra.socket, WsCloseCode.UNAUTHORIZED, 'Token expired');
        return [graphqlError(ErrorCode.UNAUTHENTICATED, 'Token expired')];
      }
      if (Object.keys(ctx.subscriptions).length > maxOperationsPerConnection) {
        return [new GraphQLError(`At most ${maxOperationsPerConnection} operations may run at once on one connection`, { extensions: { code: WsErrorCode.TOO_MANY_OPERATIONS } })];
      }
      let document: DocumentNode;
      try {
        document = parse(payload.query, guards.parseOptions);
      } catch (error) {
        return [error instanceof GraphQLError ? codeOf(error, WsErrorCode.GRAPHQL_PARSE_FAILED) : new GraphQLError(messageOf(error), { extensions: { code: WsErrorCode.GRAPHQL_PARSE_FAILED } })];
      }
      const invalid = validate(schema, document, rules);
      if (invalid.length) return invalid.map((error) => codeOf(error, WsErrorCode.GRAPHQL_VALIDATION_FAILED));
      const operationName = payload.operationName ?? undefined;
      const operation = getOperationAST(document, operationName);
      if (!operation) {
        return [new GraphQLError(operationName ? `Unknown operation named "${operationName}"` : 'Must provide operation name if query contains multiple operations', { extensions: { code: WsErrorCode.OPERATION_RESOLUTION_FAILURE } })];
      }
      if (requirements) {
        try {
          // With the identity the connection has now (a refresh may have changed its scopes).
          for (const [coordinate, requirement] of guardedFieldsOf(schema, document, operation, requirements)) assertMeets(session.identity, requirement, coordinate);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
      }
      const variables = (payload.variables ?? {}) as Record<string, unknown>;
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 25 });
      if (coerced.errors) return coerced.errors.map((error) => codeOf(error, ErrorCode.BAD_USER_INPUT));
      const request: WsRequest = { session, query: payload.query, operationName, document, operation, variables, upgradeRequest: ctx.extra.request };
      const contextValue = await options.context(request);
      if (typeof contextValue === 'object' && contextValue !== null) requests.set(contextValue, request);
      // Variables go on as sent: graphql-js and subgraphs coerce them themselves.
      return { schema, document, operationName, variableValues: variables, contextValue } satisfies ExecutionArgs;
    },

    execute,
    subscribe,

    onNext(_ctx, _id, _payload, _args, result: ExecutionResult) {
      if (!result.errors?.length) return;
      return { ...result, errors: result.errors.map((error) => mask(error.toJSON(), error)) };
    },
    onError(_ctx, _id, _payload, errors) {
      return errors.map((error) => mask(error.toJSON(), error));
    },
    onClose(ctx) {
      sessions.get(ctx.extra.socket)?.close();
    },
  }, wss, options.keepAliveMs);

  return {
    get connections() {
      return wss.clients.size;
    },
    async close(graceMs = 2_000) {
      closing = true;
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
