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
