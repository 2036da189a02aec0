import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { ReadinessCheck } from '@shopgraph/core/http';
import type { HttpClient, HttpResponse } from '@shopgraph/core/http-client';
import { injectTraceHeaders, inSpan, SpanKind, trace, type Tracer } from '@shopgraph/core/tracing';
import { GraphQLError } from 'graphql';
import { STATUS_CODES } from 'node:http';
import type { RouterMetrics } from './metrics.ts';
import type { CachePolicy, FetchContext } from './pipeline.ts';

/** A subgraph that takes a JSON array of operations in one HTTP request, and how many at most. */
export interface Batching {
  maxSize: number;
}

/**
 * A subgraph data source that forwards the caller's verified `Authorization` header unchanged
 * (each subgraph re-verifies it against the issuer's keys) and nothing else of the client's
 * request. It behaves as the gateway's RemoteGraphQLDataSource does (same request body, errors for
 * non-2xx answers) without its per-fetch Request/Headers objects.
 *
 * With `batching`, the fetches one operation starts to this subgraph in the same tick (a plan's
 * parallel step: a cart's subtotal, its lines' prices and its products' names are three) go as one
 * HTTP request: one hop, one token check and one request context on the subgraph, whose loaders
 * then batch across them. Each fetch still gets its own answer and errors.
 */
export function subgraphDataSource(name: string, url: string, client: HttpClient, observe: FetchObservers = {}, batching?: Batching): GraphQLDataSource<FetchContext> {
  const target = new URL(url);
  const { metrics, tracer } = observe;
  const fetchOnce = fetcher(name, target, batching ? batchedPoster(target, client, batching.maxSize) : singlePoster(target, client), !!tracer);
  // A span only inside a sampled operation: an unsampled one (most, at a low ratio) costs no span or
  // context switch per fetch; its `traceparent` still tells the subgraph not to sample either.
  const traced: typeof fetchOnce = tracer
    ? (options) => (trace.getActiveSpan()?.isRecording() ? inSpan(tracer, `fetch ${name}`, { kind: SpanKind.CLIENT, attributes: { 'graphql.subgraph.name': name } }, () => fetchOnce(options)) : fetchOnce(options))
    : fetchOnce;
  if (!metrics) return { process: traced };
  return {
    async process(options) {
      const started = performance.now();
      let ok = false;
      try {
        const result = await traced(options);
        ok = !result.errors?.length;
        return result;
      } finally {
        metrics.subgraphFetch(name, (performance.now() - started) / 1000, ok);
      }
    },
  };
}

/** What sees each subgraph fetch: its latency and result (metrics), its span (tracing, when on). */
export interface FetchObservers {
  metrics?: RouterMetrics;
  tracer?: Tracer;
}

/** A fetch's HTTP answer, whether it answered this fetch, and how to read its result (for a batched fetch, its element of the answer's array). */
interface Answer {
  response: HttpResponse;
  ok: boolean;
  result: () => unknown;
}

/** Sends one fetch's body for a caller (the operation's context); answers with its result. */
type Poster = (caller: object, headers: Record<string, string>, body: string) => Promise<Answer>;

const singlePoster =
  (target: URL, client: HttpClient): Poster =>
  async (_caller, headers, body) => {
    const response = await client.post(target, headers, body);
    return { response, ok: ok(response), result: () => parseBody(response) };
  };

interface Batch {
  headers: Record<string, string>;
  headerKey: string;
  bodies: string[];
  answers: Array<{ resolve: (answer: Answer) => void; reject: (error: unknown) => void }>;
}

/** W3C trace context: each fetch of a sampled operation has its own; a batch carries its first fetch's. */
const TRACE_HEADERS = new Set(['traceparent', 'tracestate']);

/**
 * Gathers the fetches of one caller that start in the same tick into one request (a JSON array of
 * bodies, at most `maxSize`), sent once the tick's synchronous work is done. A fetch with other
 * headers than the batch's (trace context aside) goes alone.
 */
function batchedPoster(target: URL, client: HttpClient, maxSize: number): Poster {
  const single = singlePoster(target, client);
  const open = new WeakMap<object, Batch>();
  const send = async (batch: Batch): Promise<void> => {
    if (batch.bodies.length === 1) return single(batch, batch.headers, batch.bodies[0]!).then(batch.answers[0]!.resolve, batch.answers[0]!.reject);
    const size = batch.bodies.length;
    let response: HttpResponse;
    try {
      response = await client.post(target, batch.headers, `[${batch.bodies.join(',')}]`);
    } catch (error) {
      for (const { reject } of batch.answers) reject(error);
      return;
    }
    // The status is shared: one operation's refusal (a 400 for a document it could not validate) is
    // the whole batch's, while the array still answers each. An answer that is not one result per
    // operation fails them all.
    const results = resultsOf(response, size);
    const malformed = () => new Error(`Expected a JSON array of ${size} results to a batched request, but received: ${response.body.slice(0, 2_000)}`);
    batch.answers.forEach(({ resolve }, i) =>
      resolve({
        response,
        ok: ok(response) || results !== undefined,
        result: () => {
          if (!results) throw malformed();
          return results[i];
        },
      }),
    );
  };
  return (caller, headers, body) => {
    let headerKey = '';
    for (const name in headers) if (!TRACE_HEADERS.has(name)) headerKey += `${name}:${headers[name]}\n`;
    let batch = open.get(caller);
    if (batch && batch.headerKey !== headerKey) return single(caller, headers, body);
    if (!batch || batch.bodies.length === maxSize) {
      const started: Batch = (batch = { headers, headerKey, bodies: [], answers: [] });
      open.set(caller, started);
      queueMicrotask(() => {
        if (open.get(caller) === started) open.delete(caller);
        void send(started);
      });
    }
    batch.bodies.push(body);
    return new Promise<Answer>((resolve, reject) => batch.answers.push({ resolve, reject }));
  };
}

const ok = (response: HttpResponse): boolean => response.status >= 200 && response.status < 300;

/** A batched request's answer as one result per operation, or undefined when it is not that. */
function resultsOf(response: HttpResponse, size: number): unknown[] | undefined {
  try {
    const body = parseBody(response);
    return Array.isArray(body) && body.length === size ? body : undefined;
  } catch {
    return undefined;
  }
}

function fetcher(name: string, target: URL, post: Poster, traced: boolean) {
  return async (options: GraphQLDataSourceProcessOptions<FetchContext>): ReturnType<GraphQLDataSource['process']> => {
    const { request, context } = options;
    const headers: Record<string, string> = {};
    if (request.http?.headers) for (const [name, value] of request.http.headers) headers[name.toLowerCase()] = value;
    headers['content-type'] = 'application/json';
    headers['accept'] = 'application/json';
    if (context.authorization) headers['authorization'] = context.authorization;
    // The router is the proxy in front of every subgraph: it names the client it found (a subgraph trusts one hop).
    if (context.clientAddress) headers['x-forwarded-for'] = context.clientAddress;
    if (traced) injectTraceHeaders(headers);
    if (!request.query) throw new Error('Missing query');
    // The same body as RemoteGraphQLDataSource sends (its key order too): `http` is not part of it.
    const { http: _http, query, ...rest } = request;
    const answer = await post(context, headers, JSON.stringify({ query, ...rest })).catch((error: unknown) => {
      // Down, reset or too slow: the client learns which subgraph, not its address or the socket's words.
      throw new GraphQLError(`Subgraph "${name}" is unavailable`, { originalError: error instanceof Error ? error : undefined, extensions: { code: 'SUBREQUEST_HTTP_ERROR', serviceName: name } });
    });
    const { response } = answer;
    if (!answer.ok) throw errorFromResponse(name, target, response);
    const result = answer.result();
    if (typeof result !== 'object' || result === null || Array.isArray(result)) throw new Error(`Expected JSON response body, but received: ${response.body}`);
    if (context.cachePolicy) restrictCachePolicy(context.cachePolicy, response.headers['cache-control']?.toString());
    return result as Awaited<ReturnType<GraphQLDataSource['process']>>;
  };
}

function parseBody(response: HttpResponse): unknown {
  const type = String(response.headers['content-type'] ?? '');
  const json = type.startsWith('application/json') || type.startsWith('application/graphql-response+json');
  return json ? JSON.parse(response.body) : response.body;
}

/**
 * An error status as a GraphQL error. The client learns the status and which subgraph, never the
 * subgraph's address or what it answered (internal details, maybe a stack): those are in the
 * error's cause, for the logs only.
 */
function errorFromResponse(name: string, url: URL, response: HttpResponse): GraphQLError {
  const statusText = STATUS_CODES[response.status] ?? '';
  const code = response.status === 401 ? 'UNAUTHENTICATED' : response.status === 403 ? 'FORBIDDEN' : undefined;
  const cause = new Error(`subgraph "${name}" (${url.href}) answered ${response.status}: ${response.body.slice(0, 2_000)}`);
  return new GraphQLError(`${response.status}: ${statusText}`, {
    originalError: cause,
    extensions: { response: { status: response.status, statusText }, serviceName: name, ...(code ? { code } : {}) },
  });
}

/** Narrows the response's cache policy by a subgraph's Cache-Control header, as the gateway's own data source does. */
function restrictCachePolicy(policy: CachePolicy, header: string | undefined): void {
  const hint: { maxAge: number; scope?: 'PUBLIC' | 'PRIVATE' } = { maxAge: 0 };
  for (const part of header?.split(',') ?? []) {
    const [key, raw] = part.trim().split(/\s*=\s*/, 2) as [string, string | undefined];
    const value = raw?.replace(/^"|"$/g, '');
    if (key === 'max-age' && value && /^[0-9]+$/.test(value)) hint.maxAge = Number(value);
    else if (key === 'private') hint.scope = 'PRIVATE';
    else if (key === 'public') hint.scope = 'PUBLIC';
  }
  policy.restrict(hint);
}

/**
 * A readiness check that asks a subgraph's `/readyz`, with a short timeout. Its answer is
 * reused for `cacheMs` (concurrent probes share one request), so the router's own /readyz
 * being polled does not multiply into calls on every subgraph.
 */
export function subgraphReadiness(graphqlUrl: string, timeoutMs: number, cacheMs: number): ReadinessCheck {
  const url = new URL('/readyz', graphqlUrl);
  let last: { at: number; result: Promise<void> } | undefined;
  const probe = async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`${url.href} answered ${response.status}`);
  };
  return () => {
    const now = performance.now();
    if (!last || now - last.at >= cacheMs) {
      const result = probe();
      result.catch(() => {}); // observed by callers; a cached failure is not an unhandled rejection
      last = { at: now, result };
    }
    return last.result;
  };
}
