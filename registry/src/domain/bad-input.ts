import { ErrorCode, graphqlError } from '@shopgraph/kit';
import type { GraphQLError } from 'graphql';

/**
 * Why an upload was refused, as `extensions.reason` of a BAD_USER_INPUT error: the CLI maps it to
 * "fix your input" (exit code 2), and nothing was stored.
 */
export const BadInputReason = {
  INVALID_NAME: 'INVALID_NAME',
  SDL_PARSE_FAILED: 'SDL_PARSE_FAILED',
  SDL_TOO_LARGE: 'SDL_TOO_LARGE',
  SDL_REQUIRED: 'SDL_REQUIRED',
  ROUTING_URL_REQUIRED: 'ROUTING_URL_REQUIRED',
  INVALID_ROUTING_URL: 'INVALID_ROUTING_URL',
  UNKNOWN_SUBGRAPH: 'UNKNOWN_SUBGRAPH',
  DUPLICATE_SUBGRAPH: 'DUPLICATE_SUBGRAPH',
  NOTHING_TO_CHECK: 'NOTHING_TO_CHECK',
  UNKNOWN_MANIFEST_FORMAT: 'UNKNOWN_MANIFEST_FORMAT',
  INVALID_MANIFEST: 'INVALID_MANIFEST',
  TOO_MANY_OPERATIONS: 'TOO_MANY_OPERATIONS',
  INVALID_EVENT_CONTRACT: 'INVALID_EVENT_CONTRACT',
  INVALID_USAGE_REPORT: 'INVALID_USAGE_REPORT',
  UNKNOWN_LINT_RULE: 'UNKNOWN_LINT_RULE',
} as const;
export type BadInputReason = (typeof BadInputReason)[keyof typeof BadInputReason];

export const badInput = (reason: BadInputReason, message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  graphqlError(ErrorCode.BAD_USER_INPUT, message, { reason, ...extensions });
