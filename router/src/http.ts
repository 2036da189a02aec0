import { identityFromAuthorization, type TokenVerifier } from '@shopgraph/core/auth';
import { ErrorCode, graphqlError } from '@shopgraph/core/errors';
import { maskUnexpectedErrors } from '@shopgraph/core/graphql';
import { clientAddress, HttpError, readBody } from '@shopgraph/core/http';
import type { Logger } from '@shopgraph/core/log';
import { Session } from '@shopgraph/core/session';
import { isPushIterator } from '@shopgraph/core/stream';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { InitialPayload, SubsequentPayload } from './execution.ts';
import { CachePolicy, isRefusal, type Caller, type Pipeline, type RouterOperation } from './pipeline.ts';
import type { RouterMetrics } from './metrics.ts';
import type { PersistedQueries } from './persisted-queries.ts';
import { NO_RATE_LIMIT, rateLimitedError, type RateLimiter } from './rate-limit.ts';

/**
 * GraphQL over HTTP on the router's one URL, a thin adapter over the pipeline. What comes back
 * depends on the operation and the `Accept` header:
 *
 * - queries and mutations: JSON (`application/graphql-response+json` or `application/json`);
 * - a query with `@defer`: incrementally, over `multipart/mixed;deferSpec=20220824` (what Apollo
 *   Client speaks) when the client accepts it (and does not prefer SSE); else whole, as without `@defer`;
 * - subscriptions: Apollo's multipart protocol (`multipart/mixed;subscriptionSpec=1.0`, what Apollo
 *   Client and Apollo iOS/Kotlin speak), with a heartbeat part every few seconds;
 * - any operation as Server-Sent Events (`text/event-stream`, the graphql-sse protocol in its
 *   distinct-connections mode).
 *
 * GET serves queries only; POST takes one JSON operation (no batches). Requests a browser could
 * send cross-site without a preflight are refused (Apollo's CSRF prevention). Automatic persisted
 * queries work on every transport. A subscription needs a signed-in caller, and ends when its
 * token expires (the client resubscribes with a fresh token and `after`). Rate limits (per client
 * IP, and per user when signed in) are checked before the body is read: 429 with `Retry-After`.
 */

export interface GraphQLHttpOptions {
  pipeline: Pipeline;
  verifier: TokenVerifier;
  persistedQueries: PersistedQueries;
  logger: Logger;
  maxBodyBytes: number;
  /** Interval of multipart heartbeats (Apollo's protocol: 5 s) and SSE comment pings. */
  heartbeatMs?: number;
  /** Bytes a stream may have waiting to go out before a pushed result ends it (overflow). */
  maxBufferedBytes?: number;
  /** Operations per client IP and per user; none by default. */
  rateLimiter?: RateLimiter;
  /** Proxies in front whose X-Forwarded-For entries name the client (rate-limit.ts `clientAddress`). */
  trustProxy?: number;
  metrics?: RouterMetrics;
}

/** The media types the router answers with, in the order it prefers them. */
const MEDIA = {
  graphqlResponse: 'application/graphql-response+json',
  json: 'application/json',
  multipartSubscription: 'multipart/mixed;subscriptionSpec=1.0',
  multipartDefer: 'multipart/mixed;deferSpec=20220824',
  sse: 'text/event-stream',
} as const;
const SERVED = Object.values(MEDIA);

/** CSRF prevention as Apollo Server's: content types a browser sends cross-site without a preflight. */
const SIMPLE_CONTENT_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'];

/** `multipart`: Apollo's multipart subscriptions; `incremental`: `@defer` over multipart/mixed. */
type Transport = 'json' | 'multipart' | 'incremental' | 'sse';

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

function parseAccept(header: string | undefined): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of (header || '*/*').split(',')) {
    const [type, ...rest] = part.split(';').map((s) => s.trim());
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const param of rest) {
      const eq = param.indexOf('=');
      if (eq > 0) params[param.slice(0, eq).trim().toLowerCase()] = param.slice(eq + 1).trim().replace(/^"|"$/g, '');
    }
    const q = params['q'] === undefined ? 1 : Number(params['q']);
    if (q > 0) ranges.push({ type: type.toLowerCase(), params, q });
  }
  // Stable: equal q keeps the client's order.
  return ranges.map((range, i) => ({ range, i })).sort((a, b) => b.range.q - a.range.q || a.i - b.i).map(({ range }) => range);
}

const matches = (range: MediaRange, type: string) => range.type === type || range.type === '*/*' || (range.type.endsWith('/*') && type.startsWith(range.type.slice(0, -1)));

/** The transports the client accepts, best first, and the JSON media type it prefers. */
function negotiate(accept: MediaRange[]): { transports: Transport[]; jsonType: string } {
  const transports: Transport[] = [];
  let jsonType: string | undefined;
  for (const range of accept) {
    if (range.type === 'multipart/mixed' && range.params['subscriptionspec']) transports.push('multipart');
    else if (range.type === 'multipart/mixed' && range.params['deferspec'] === '20220824') transports.push('incremental');
    else if (range.type === 'text/event-stream') transports.push('sse');
    else if (matches(range, MEDIA.graphqlResponse) || matches(range, MEDIA.json)) {
      transports.push('json');
      jsonType ??= range.type === MEDIA.graphqlResponse ? MEDIA.graphqlResponse : MEDIA.json;
    }
  }
  return { transports: [...new Set(transports)], jsonType: jsonType ?? MEDIA.json };
}

interface HttpOperation {
  query: unknown;
  operationName: unknown;
  variables: unknown;
  extensions: unknown;
}

const badRequest = (message: string, status = 400) => new HttpError(status, message);

/** A request header's value (the first, if repeated); undefined when absent or empty. */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

function jsonParam(params: URLSearchParams, name: string): unknown {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw badRequest(`The ${name} search parameter is not valid JSON`);
  }
}

async function readOperation(req: IncomingMessage, url: URL, maxBodyBytes: number): Promise<HttpOperation> {
  if (req.method === 'GET') {
    const params = url.searchParams;
    return { query: params.get('query') ?? undefined, operationName: params.get('operationName') ?? undefined, variables: jsonParam(params, 'variables'), extensions: jsonParam(params, 'extensions') };
  }
  const contentType = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json' && contentType !== MEDIA.graphqlResponse) {
    throw badRequest('POST requests must have content-type application/json');
  }
  const raw = await readBody(req, maxBodyBytes);
  if (raw === '') throw badRequest('Empty JSON body');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw badRequest('Malformed JSON body');
  }
  if (Array.isArray(body)) throw badRequest('Operation batching disabled.');
  if (typeof body !== 'object' || body === null) throw badRequest('The POST body must be a JSON object');
  const { query, operationName, variables, extensions } = body as Record<string, unknown>;
  return { query, operationName, variables, extensions };
}

/** Refuses what a browser could send cross-site without a preflight (Apollo Server's CSRF prevention). */
function assertNotCsrf(req: IncomingMessage): void {
  const contentType = req.headers['content-type'];
  if (contentType !== undefined && !SIMPLE_CONTENT_TYPES.has(contentType.split(';')[0]!.trim().toLowerCase())) return;
  if (PREFLIGHT_HEADERS.some((name) => req.headers[name])) return;
  throw badRequest(
    "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Please either specify a 'content-type' header (with a type that is not one of application/x-www-form-urlencoded, multipart/form-data, text/plain) or provide a non-empty value for one of the following headers: x-apollo-operation-name, apollo-require-preflight",
  );
}

function validateShape(op: HttpOperation): void {
  if (op.operationName !== undefined && op.operationName !== null && typeof op.operationName !== 'string') throw badRequest('operationName must be a string');
  if (op.variables !== undefined && op.variables !== null && (typeof op.variables !== 'object' || Array.isArray(op.variables))) throw badRequest('variables must be a JSON object');
  if (op.extensions !== undefined && op.extensions !== null && (typeof op.extensions !== 'object' || Array.isArray(op.extensions))) throw badRequest('extensions must be a JSON object');
  if (op.query !== undefined && typeof op.query !== 'string') throw badRequest('query must be a string');
}

/** The HTTP transport: the handler of `/graphql`, and `close()` to end its open streams (on shutdown). */
export interface GraphQLOverHttp {
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** Ends every open subscription stream with SHUTTING_DOWN (resubscribe, to another router, with `after`). */
  close(): void;
}

export function graphqlOverHttp(options: GraphQLHttpOptions): GraphQLOverHttp {
  const { pipeline, verifier, persistedQueries, logger, heartbeatMs = 5_000, maxBufferedBytes = 1024 * 1024, rateLimiter = NO_RATE_LIMIT, trustProxy = 0, metrics } = options;
  /** How to end each open subscription stream now. */
  const openStreams = new Set<() => void>();
  const mask = maskUnexpectedErrors(logger);
  // The plan executor, like the gateway's, may report a plain Error (a malformed subgraph answer): masked as internal, not a 500.
  const formatError = (error: GraphQLError | Error) => mask(error instanceof GraphQLError ? error.toJSON() : { message: error.message }, error);
  const format = (result: ExecutionResult): FormattedExecutionResult => ({
    ...(result.errors?.length ? { errors: result.errors.map(formatError) } : {}),
    ...('data' in result ? { data: result.data } : {}),
    ...(result.extensions ? { extensions: result.extensions } : {}),
  });
  const sendResult = (res: ServerResponse, status: number, type: string, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const errorsOf = (errors: readonly GraphQLError[]) => ({ errors: errors.map(formatError) });

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, POST');
      throw badRequest('GraphQL is served over GET and POST', 405);
    }
    const accept = parseAccept(req.headers.accept);
    const { transports, jsonType } = negotiate(accept);
    if (!transports.length) {
      return sendResult(res, 406, MEDIA.json, { errors: [{ message: `Not acceptable: the router answers with ${SERVED.join(', ')}`, extensions: { code: 'NOT_ACCEPTABLE', accepts: SERVED } }] });
    }
    assertNotCsrf(req);
    const transport = transports[0]!;
    // A refusal: over SSE in the stream, as graphql-sse reports errors (its clients retry a failed
    // connection, which would only repeat the refusal); else as JSON with the status it warrants.
    const refuse = (status: number, errors: readonly GraphQLError[], headers?: Record<string, string>) =>
      transport === 'sse' ? streamSse(res, [{ errors }], heartbeatMs, format) : sendResult(res, status, jsonType, errorsOf(errors), headers);

    // One declaration of the caller, for every transport: a bad token fails the request (401), once
    // the client address has been counted (a flood of bad tokens is rate limited too).
    const authorization = req.headers.authorization;
    const address = clientAddress(req, trustProxy);
    let caller: Caller | undefined;
    let unauthenticated: GraphQLError | undefined;
    try {
      const identity = await identityFromAuthorization(verifier, authorization);
      caller = { identity, authorization: identity ? authorization : undefined, clientAddress: address, clientName: header(req, 'apollographql-client-name'), clientVersion: header(req, 'apollographql-client-version') };
    } catch (error) {
      unauthenticated = error instanceof GraphQLError ? error : graphqlError(ErrorCode.UNAUTHENTICATED, String(error));
    }
    const decision = await rateLimiter.check({ ip: address, identity: caller?.identity });
    if (!decision.allowed) {
      metrics?.refused('RATE_LIMITED');
      return refuse(429, [rateLimitedError(decision)], { 'retry-after': String(decision.retryAfterS) });
    }
    if (!caller) return refuse(401, [unauthenticated!]);

    const received = await readOperation(req, url, options.maxBodyBytes);
    validateShape(received);

    const persisted = persistedQueries.resolve(received.query, received.extensions);
    if ('error' in persisted) return refuse(persisted.status, [persisted.error], { 'cache-control': 'private, no-cache, must-revalidate' });
    if (persisted.query === undefined || persisted.query === '') {
      throw badRequest('GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.');
    }
    const input = { query: persisted.query, operationName: received.operationName as string | undefined, variables: received.variables as Record<string, unknown> | undefined };
    const prepared = pipeline.prepare(input, caller.identity, { readOnly: req.method === 'GET', documentId: persisted.documentId });
    if (isRefusal(prepared)) return refuse(prepared.status, prepared.errors);
    persisted.register?.();

    if (prepared.kind !== 'subscription') {
      // A query with `@defer`, to a client that takes incremental delivery (or only that, for any operation).
      if (transports.includes('incremental') && transport !== 'sse' && ((prepared.kind === 'query' && prepared.plan.defer) || !transports.includes('json'))) {
        return deliverIncrementally(res, prepared, caller);
      }
      const cachePolicy = new CachePolicy();
      const result = await pipeline.execute(prepared, caller, cachePolicy);
      if (transport === 'sse') return streamSse(res, [result], heartbeatMs, format);
      const cacheControl = prepared.kind === 'query' && !result.errors?.length ? cachePolicy.header() : undefined;
      return sendResult(res, 200, jsonType, format(result), cacheControl ? { 'cache-control': cacheControl } : {});
    }

    // Subscriptions: a stream transport and a signed-in caller.
    const streaming = transports.find((t) => t === 'multipart' || t === 'sse');
    if (!streaming) {
      return sendResult(res, 400, jsonType, errorsOf([graphqlError(ErrorCode.BAD_REQUEST, 'Subscriptions are served over WebSocket (graphql-ws) at this URL, or over HTTP with Accept: multipart/mixed;subscriptionSpec=1.0 (Apollo\'s multipart protocol) or Accept: text/event-stream (graphql-sse)')]));
    }
    if (!caller.identity || !caller.authorization) {
      return refuse(401, [graphqlError(ErrorCode.UNAUTHENTICATED, 'Subscriptions need a signed-in user: send Authorization: Bearer <token>')]);
    }
    await subscribeOverHttp(res, streaming, prepared, { ...caller, identity: caller.identity, authorization: caller.authorization });
  };

  /** Payloads of `@defer` (execution.ts `executeIncremental`) over multipart/mixed, each as soon as it comes. */
  async function deliverIncrementally(res: ServerResponse, operation: RouterOperation, caller: Caller): Promise<void> {
    let stream: IncrementalWriter | undefined;
    try {
      await pipeline.executeIncremental(operation, caller, (payload) => {
        if (!stream) {
          stream = incrementalWriter(res);
          return stream.next({ ...format(payload as InitialPayload), hasNext: payload.hasNext });
        }
        const { incremental, hasNext } = payload as SubsequentPayload;
        const items = incremental?.map(({ errors, ...item }) => ({ ...item, ...(errors?.length ? errorsOf(errors) : {}) }));
        stream.next({ ...(items ? { incremental: items } : {}), hasNext });
      });
    } catch (error) {
      if (!stream) throw error;
      stream.next({ ...errorsOf([error instanceof GraphQLError ? error : new GraphQLError(String(error))]), hasNext: false });
    } finally {
      stream?.end();
    }
  }

  async function subscribeOverHttp(res: ServerResponse, transport: 'multipart' | 'sse', operation: RouterOperation, caller: Caller & { identity: NonNullable<Caller['identity']>; authorization: string }): Promise<void> {
    const stream = transport === 'multipart' ? multipartWriter(res, heartbeatMs) : sseWriter(res, heartbeatMs);
    let events: AsyncIterator<ExecutionResult> | undefined;
    // The stream never outlives its token: at `exp` it ends with UNAUTHENTICATED (resubscribe with a fresh one and `after`).
    let ending: GraphQLError | undefined;
    const endWith = (error: GraphQLError) => {
      ending ??= error;
      void events?.return?.();
    };
    const session = new Session(caller.identity, caller.authorization, () => endWith(graphqlError(ErrorCode.UNAUTHENTICATED, 'Token expired')));
    const shutDown = () => endWith(new GraphQLError('Server shutting down', { extensions: { code: 'SHUTTING_DOWN' } }));
    openStreams.add(shutDown);
    const closed = new Promise<void>((resolve) => res.once('close', () => {
      session.close();
      void events?.return?.();
      resolve();
    }));
    try {
      events = pipeline.subscribe(operation, session, { ...caller, transport });
      if (isPushIterator<ExecutionResult>(events)) {
        events.deliverTo((result) => res.writableLength <= maxBufferedBytes && (stream.next(format(result)), true));
        await events.next(); // settles when the stream ends (or throws when it fails)
      } else {
        for (let next = await events.next(); !next.done; next = await events.next()) {
          // Not `drain` alone: a client gone meanwhile never drains, and the stream must still end (its heartbeat timer with it).
          if (!stream.next(format(next.value))) await Promise.race([once(res, 'drain'), closed]);
        }
      }
      if (ending) stream.fail(errorsOf([ending]).errors);
    } catch (error) {
      stream.fail(errorsOf([ending ?? (error instanceof GraphQLError ? error : new GraphQLError(String(error)))]).errors);
    } finally {
      openStreams.delete(shutDown);
      session.close();
      stream.end();
    }
  }

  return {
    handle,
    close() {
      for (const shutDown of [...openStreams]) shutDown();
    },
  };
}

interface StreamWriter {
  /** Writes one result; false when the socket's buffer is full. */
  next(result: unknown): boolean;
  /** Writes why the stream ends early (token expired, subgraph gone, overflow), before `end`. */
  fail(errors: readonly GraphQLFormattedError[]): void;
  end(): void;
}

/**
 * Apollo's multipart subscription protocol: each result in a `{ payload }` part, `{}` heartbeats.
 * Each part is followed by its boundary at once (clients yield a part only when they see the next
 * boundary), and the stream ends by closing the last one (`--`).
 */
function multipartWriter(res: ServerResponse, heartbeatMs: number): StreamWriter {
  res.writeHead(200, { 'content-type': 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write('\r\n--graphql');
  const part = (body: string) => res.write(`\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${body}\r\n--graphql`);
  part('{}');
  const heartbeat = setInterval(() => part('{}'), heartbeatMs);
  return {
    next: (result) => part(JSON.stringify({ payload: result })),
    // A fatal transport-level error, as the protocol has it: top-level `errors`, `payload: null`
    // (Apollo Client reports them as CombinedProtocolErrors; errors in a payload read as one event's).
    fail: (errors) => void part(JSON.stringify({ payload: null, errors })),
    end() {
      clearInterval(heartbeat);
      if (!res.writableEnded) res.end('--\r\n');
    },
  };
}

interface IncrementalWriter {
  next(payload: unknown): void;
  end(): void;
}

/**
 * `@defer` payloads as Apollo Client reads them (`multipart/mixed;deferSpec=20220824`): each in a
 * part followed by its boundary at once (clients yield a part when they see the next boundary); the
 * last boundary closed (`--`). No heartbeats: a query's payloads are all on their way.
 */
function incrementalWriter(res: ServerResponse): IncrementalWriter {
  res.writeHead(200, { 'content-type': 'multipart/mixed;boundary="graphql";deferSpec=20220824', 'cache-control': 'no-cache' });
  res.write('\r\n--graphql');
  return {
    next(payload) {
      if (!res.writableEnded && !res.destroyed) res.write(`\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(payload)}\r\n--graphql`);
    },
    end() {
      if (!res.writableEnded) res.end('--\r\n');
    },
  };
}

/** graphql-sse's distinct-connections mode: `next` events, then `complete`; comment pings keep proxies from timing out. */
function sseWriter(res: ServerResponse, heartbeatMs: number): StreamWriter {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  // An empty comment first: some browsers wait for a byte before they report the stream open.
  res.write(':\n\n');
  const ping = setInterval(() => res.write(':\n\n'), heartbeatMs);
  return {
    next: (result) => res.write(`event: next\ndata: ${JSON.stringify(result)}\n\n`),
    // graphql-sse has no error event: the errors go in a last `next`, before `complete`.
    fail: (errors) => void res.write(`event: next\ndata: ${JSON.stringify({ errors })}\n\n`),
    end() {
      clearInterval(ping);
      if (!res.writableEnded) res.end('event: complete\ndata:\n\n');
    },
  };
}

/** A finished set of results over SSE (a query, or a refusal). */
function streamSse(res: ServerResponse, results: ExecutionResult[], heartbeatMs: number, format: (result: ExecutionResult) => FormattedExecutionResult): void {
  const stream = sseWriter(res, heartbeatMs);
  for (const result of results) stream.next(format(result));
  stream.end();
}
