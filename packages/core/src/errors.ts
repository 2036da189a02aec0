import { GraphQLError } from 'graphql';

/** Stable codes of GraphQL errors (`extensions.code`) that clients may branch on. */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function graphqlError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

/** An expected failure a mutation reports in its payload's `errors`, not as a GraphQL error. */
export interface UserError {
  code: string;
  message: string;
  field?: string[];
}

export function userError(code: string, message: string, field?: string[]): UserError {
  return field ? { code, message, field } : { code, message };
}

/** Thrown by domain code for an expected failure; resolvers turn it into a payload's `errors`. */
export class DomainError extends Error {
  readonly code: string;
  readonly field: string[] | undefined;
  constructor(code: string, message: string, field?: string[]) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.field = field;
  }
  toUserError(): UserError {
    return userError(this.code, this.message, this.field);
  }
}

/**
 * Every problem of one input at once (a form staff fix in one go, a batch of changes), each a
 * DomainError naming its field; `payload` answers them all.
 */
export class InvalidInput extends Error {
  readonly errors: readonly DomainError[];
  constructor(errors: readonly DomainError[]) {
    super(errors.map((error) => error.message).join('; '));
    this.name = 'InvalidInput';
    this.errors = errors;
  }
}

/** Runs a mutation's domain call; a DomainError or InvalidInput becomes `{ errors: [..] }`, anything else propagates. */
export async function payload<T extends object>(run: () => Promise<T>): Promise<(T & { errors: UserError[] }) | { errors: UserError[] }> {
  try {
    return { ...(await run()), errors: [] };
  } catch (error) {
    if (error instanceof DomainError) return { errors: [error.toUserError()] };
    if (error instanceof InvalidInput) return { errors: error.errors.map((problem) => problem.toUserError()) };
    throw error;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** IDs are UUIDs; anything else names nothing, so callers answer "not found" without a query. */
export const isUuid = (id: string): boolean => UUID.test(id);

const HTTP_STATUS: Partial<Record<string, number>> = { [ErrorCode.UNAUTHENTICATED]: 401, [ErrorCode.FORBIDDEN]: 403 };

/** Gives an auth error that fails a whole request the HTTP status clients expect (Apollo answers 500 without one). */
export function withHttpStatus(error: unknown): unknown {
  if (!(error instanceof GraphQLError)) return error;
  const status = HTTP_STATUS[String(error.extensions['code'])];
  return status ? new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status } } }) : error;
}
