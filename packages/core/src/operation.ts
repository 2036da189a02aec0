import {
  getOperationAST, getVariableValues, GraphQLError, parse, specifiedRules, TokenKind, validate,
  type DocumentNode, type GraphQLSchema, type OperationDefinitionNode, type ValidationContext, type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Identity } from './auth.ts';
import { assertMeets, guardedFieldsOf, type GuardedField, type Requirement } from './authz.ts';
import { ErrorCode } from './errors.ts';
import { operationGuards, type Limits } from './limits.ts';
import { EXPENSIVE_FIELD_REPEATED } from './expensive.ts';

/**
 * The stages every GraphQL entry point runs before anything executes, in one place: parse with the
 * token cap, validate (graphql's rules, the operation limits, no introspection in production),
 * pick the operation, coerce its variables, and check `@authenticated` / `@requiresScopes` against
 * the caller. A document over `LIMIT_MAX_DOCUMENT_BYTES` is refused before anything else, whatever
 * it is made of (the token cap does not count comments or whitespace). Documents are cached by
 * their text, bounded in bytes; the guarded fields of an operation are found once per document, so
 * authorizing a cached document is a loop over a list.
 */

/** Stable codes of refused operations, besides the kit's UNAUTHENTICATED / FORBIDDEN / BAD_USER_INPUT. */
export const OperationErrorCode = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
  /** The document's text is over LIMIT_MAX_DOCUMENT_BYTES (HTTP 413). */
  DOCUMENT_TOO_LARGE: 'DOCUMENT_TOO_LARGE',
} as const;

/** An operation as a client sends it. */
export interface OperationInput {
  query: string;
  operationName?: string | null | undefined;
  variables?: Record<string, unknown> | null | undefined;
}

/** An operation that passed every check: ready to plan and run. */
export interface PreparedRequest {
  query: string;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  /** As sent (executors coerce them themselves). */
  variables: Record<string, unknown>;
}

/** Why an operation is refused; `status` is the HTTP status it warrants. */
export interface Refusal {
  errors: readonly GraphQLError[];
  status: number;
}

export interface OperationPreparerOptions {
  schema: GraphQLSchema;
  limits: Limits;
  production: boolean;
  /** Coordinate → requirement (`requirementsOf` the SDL); none: no authorization checks. */
  requirements?: ReadonlyMap<string, Requirement>;
  /** Bytes of query text the document cache may hold (default 16 MiB). */
  documentCacheBytes?: number;
  /** Rules beyond the spec's and the limits' (e.g. the router's `expensiveFieldRule` for the supergraph's `@expensive` fields). */
  validationRules?: readonly ValidationRule[];
}

/** How full the document cache is, in its estimated bytes. */
export interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
}

export interface PrepareRequestOptions {
  /** Only queries (and subscriptions) may run, as over HTTP GET. */
  readOnly?: boolean;
  /** Asked once when the document is not in the cache, before it is parsed: a refusal stops it there. */
  admitNew?: () => Refusal | undefined;
}

export interface OperationPreparer {
  (input: OperationInput, identity: Identity | null, options?: PrepareRequestOptions): PreparedRequest | Refusal;
  /** The document cache's size (metrics, tests). */
  cacheStats(): CacheStats;
}

/**
 * What a parsed document holds on to, estimated: its text (UTF-16) and, per token, the token and
 * the AST nodes and locations made of it (measured on graphql 16: 250–500 bytes per token of
 * selections and arguments), per comment token its token object (about 90 bytes): graphql-js links
 * comments into the token list, so a document padded with them holds them while it is cached.
 */
const TOKEN_BYTES = 500;
const COMMENT_BYTES = 100;
/** The tokens a parsed document holds: those of its AST, and comments. */
export function tokenCount(document: DocumentNode): { ast: number; comments: number } {
  const count = { ast: 0, comments: 0 };
  for (let token = document.loc?.startToken ?? null; token; token = token.next) {
    if (token.kind === TokenKind.COMMENT) count.comments++;
    else count.ast++;
  }
  return count;
}
export function documentBytes(query: string, document: DocumentNode): number {
  const { ast, comments } = tokenCount(document);
  return query.length * 2 + ast * TOKEN_BYTES + comments * COMMENT_BYTES + 1024;
}

/** Over `maxBytes` of UTF-8: a string's length (UTF-16 units) never exceeds its UTF-8 byte count, so most are decided without counting. */
const exceedsBytes = (text: string, maxBytes: number): boolean => text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes);

export const isRefusal = (value: PreparedRequest | Refusal): value is Refusal => 'errors' in value;

/** A GraphQL error with `code` in its extensions (its other fields kept). */
const withCode = (error: GraphQLError, code: string): GraphQLError =>
  new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });

const refused = (status: number, ...errors: GraphQLError[]): Refusal => ({ errors, status });

/** In production: no `__schema` / `__type` (one error per such field; `__typename` stays allowed). */
const noIntrospection: ValidationRule = (context: ValidationContext) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(new GraphQLError(`GraphQL introspection is disabled, but the operation asked for ${node.name.value}`, { nodes: node }));
    }
  },
});

export function operationPreparer(options: OperationPreparerOptions): OperationPreparer {
  const { schema, requirements } = options;
  const guards = operationGuards(options.limits);
  const rules: ValidationRule[] = [...specifiedRules, ...guards.validationRules, ...(options.validationRules ?? []), ...(options.production ? [noIntrospection] : [])];
  type Entry = { document: DocumentNode } | Refusal;
  // Bounded in bytes, not entries: many distinct large (legal) documents must not grow memory.
  const maxBytes = options.documentCacheBytes ?? 16 * 1024 * 1024;
  const documents = new LRUCache<string, Entry>({ maxSize: maxBytes });
  const maxDocumentBytes = options.limits.LIMIT_MAX_DOCUMENT_BYTES;
  const guardedByOperation = new WeakMap<OperationDefinitionNode, readonly GuardedField[]>();

  const documentOf = (query: string, admitNew?: () => Refusal | undefined): Entry => {
    const cached = documents.get(query);
    if (cached) return cached;
    const refusal = admitNew?.();
    if (refusal) return refusal;
    let document: DocumentNode;
    try {
      document = parse(query, guards.parseOptions);
    } catch (error) {
      // Not cached: a flood of distinct broken documents must not evict the good ones.
      const parseError = error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error));
      return refused(400, withCode(parseError, OperationErrorCode.GRAPHQL_PARSE_FAILED));
    }
    const invalid = validate(schema, document, rules);
    // A refusal with a code of its own keeps it (EXPENSIVE_FIELD_REPEATED); the rest are validation failures.
    const codeOf = (error: GraphQLError) => (error.extensions['code'] === EXPENSIVE_FIELD_REPEATED ? EXPENSIVE_FIELD_REPEATED : OperationErrorCode.GRAPHQL_VALIDATION_FAILED);
    const entry: Entry = invalid.length ? refused(400, ...invalid.map((error) => withCode(error, codeOf(error)))) : { document };
    // A refusal holds the document too (its errors' nodes).
    documents.set(query, entry, { size: documentBytes(query, document) });
    return entry;
  };

  const prepare = (input: OperationInput, identity: Identity | null, { readOnly = false, admitNew }: PrepareRequestOptions = {}): PreparedRequest | Refusal => {
    if (typeof input.query !== 'string') return refused(400, new GraphQLError('The operation has no `query` text', { extensions: { code: 'BAD_REQUEST' } }));
    if (exceedsBytes(input.query, maxDocumentBytes)) {
      return refused(413, new GraphQLError(`The document is larger than ${maxDocumentBytes} bytes`, { extensions: { code: OperationErrorCode.DOCUMENT_TOO_LARGE, maxBytes: maxDocumentBytes } }));
    }
    const entry = documentOf(input.query, admitNew);
    if ('errors' in entry) return entry;
    const { document } = entry;
    const operationName = input.operationName ?? undefined;
    const operation = getOperationAST(document, operationName);
    if (!operation) {
      const message = operationName ? `Unknown operation named "${operationName}".` : 'Must provide operation name if query contains multiple operations.';
      return refused(400, new GraphQLError(message, { extensions: { code: OperationErrorCode.OPERATION_RESOLUTION_FAILURE } }));
    }
    if (readOnly && operation.operation === 'mutation') {
      return refused(405, new GraphQLError('Mutations are not served over GET: send them with POST', { extensions: { code: ErrorCode.BAD_REQUEST } }));
    }
    if (requirements) {
      let guarded = guardedByOperation.get(operation);
      if (!guarded) guardedByOperation.set(operation, (guarded = guardedFieldsOf(schema, document, operation, requirements)));
      try {
        for (const [coordinate, requirement] of guarded) assertMeets(identity, requirement, coordinate);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        return refused(error.extensions['code'] === ErrorCode.UNAUTHENTICATED ? 401 : 403, error);
      }
    }
    const variables = input.variables ?? {};
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 25 });
    if (coerced.errors) return refused(400, ...coerced.errors.map((error) => withCode(error, ErrorCode.BAD_USER_INPUT)));
    return { query: input.query, document, operation, operationName, variables };
  };
  return Object.assign(prepare, { cacheStats: (): CacheStats => ({ entries: documents.size, bytes: documents.calculatedSize, maxBytes }) });
}
