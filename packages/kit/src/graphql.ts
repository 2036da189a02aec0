import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { DomainError, ErrorCode } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * Errors that carry a code the client may act on pass through, a DomainError becomes
 * BAD_USER_INPUT; anything else is logged and
 * reduced to a generic INTERNAL_SERVER_ERROR so internals (SQL, stack traces) never leak.
 */
export function maskUnexpectedErrors(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    if (code && code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    const cause = unwrapResolverError(error);
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
export interface GraphQLResponseBody<T> {
  data?: T | null;
  errors?: { message: string }[];
}

/**
 * POSTs one operation to a GraphQL endpoint (e.g. the supergraph, on a caller's behalf with its
 * access token) and resolves with the response body. Rejects on a network failure, after
 * `timeoutMs`, or on an HTTP error status.
 */
export async function postGraphQL<T>(url: string, request: GraphQLRequest, options: { token?: string | null; timeoutMs: number }): Promise<GraphQLResponseBody<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return (await response.json()) as GraphQLResponseBody<T>;
}
