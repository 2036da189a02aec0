import { GraphQLError, GraphQLScalarType, Kind, type GraphQLFormattedError } from 'graphql';
import { DomainError, ErrorCode } from './errors.ts';
import { httpClient } from './http-client.ts';
import type { Logger } from './log.ts';
import { injectTraceHeaders } from './tracing.ts';

/**
 * Errors that carry a code the client may act on pass through, a DomainError becomes
 * BAD_USER_INPUT; anything else is logged and
 * reduced to a generic INTERNAL_SERVER_ERROR so internals (SQL, stack traces) never leak.
 */
/** The error a resolver threw, out of the GraphQLError execution wrapped it in (as Apollo Server's unwrapResolverError). */
function thrownByResolver(error: unknown): unknown {
  return error instanceof GraphQLError && error.path && error.originalError ? error.originalError : error;
}

export function maskUnexpectedErrors(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    if (code && code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    const cause = thrownByResolver(error);
    // A rule broken by a query's arguments (mutations report theirs in the payload).
    if (cause instanceof DomainError) return { ...formatted, extensions: { code: ErrorCode.BAD_USER_INPUT, reason: cause.code, field: cause.field } };
    logger.error({ err: cause, path: formatted.path }, 'unexpected error');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}

export interface GraphQLRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

/** A GraphQL response body; its `errors` and partial `data` are the caller's to judge. */
interface GraphQLResponseBody<T> {
  data?: T | null;
  errors?: { message: string }[];
}

/** One client for every service-to-service GraphQL call of the process: kept-alive connections per origin. */
const client = httpClient(30_000);

/**
 * POSTs one operation to a GraphQL endpoint (e.g. a subgraph, on a caller's behalf with its
 * access token) and resolves with the response body. Rejects on a network failure, when the answer
 * does not start (or stalls) for `timeoutMs`, or on an HTTP error status.
 */
async function postGraphQL<T>(url: string, request: GraphQLRequest, options: { token?: string | null; timeoutMs: number }): Promise<GraphQLResponseBody<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  // The caller's trace goes on to the subgraph asked (a no-op when tracing is off).
  injectTraceHeaders(headers);
  const response = await client.post(new URL(url), headers, JSON.stringify(request), options.timeoutMs);
  if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}`);
  return JSON.parse(response.body) as GraphQLResponseBody<T>;
}

/** Where and how a service asks another service's subgraph on its callers' behalf. */
export interface GraphClientOptions {
  url: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * Asks a subgraph directly (the write paths make no second pass through the router) on behalf of
 * the caller whose token it forwards (the subgraph verifies it), and
 * resolves with the data only when the answer is complete. A network failure, a timeout, an HTTP
 * error or any GraphQL error (a failing subgraph nulls fields) is logged and rejects, naming
 * `what` was asked: a failure must never read as "not found".
 */
export async function queryGraph<T>(options: GraphClientOptions, what: string, request: GraphQLRequest, token: string | null): Promise<T> {
  const { url, timeoutMs, logger } = options;
  let body: GraphQLResponseBody<T>;
  try {
    body = await postGraphQL<T>(url, request, { token, timeoutMs });
  } catch (error) {
    logger.warn({ err: error, url, what }, 'graph query failed');
    throw new Error(`${what} failed`, { cause: error });
  }
  if (body.errors?.length || typeof body.data !== 'object' || body.data === null) {
    logger.warn({ errors: body.errors, url, what }, 'graph query answered with errors');
    throw new Error(`${what} answered with errors: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
  }
  return body.data;
}

/** The `DateTime` scalar every subgraph declares: ISO-8601 with an offset on the wire, a Date inside. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 date and time with offset');
  return date;
}
