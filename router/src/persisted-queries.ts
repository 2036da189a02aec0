import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import { PipelineErrorCode } from './pipeline.ts';
import { NO_TRUSTED_DOCUMENTS, type TrustedDocuments } from './trusted-documents.ts';

/**
 * Automatic persisted queries (Apollo's APQ, `extensions.persistedQuery`): a client sends the
 * SHA-256 of its query instead of the text; the first time the router does not know it
 * (PERSISTED_QUERY_NOT_FOUND, on which Apollo's clients resend with the text), after that the hash
 * alone is enough. The texts are kept in memory, bounded in bytes.
 *
 * Trusted documents (trusted-documents.ts) are known by their hash from the start, so a client may
 * send a registered operation by id alone. When the variant requires them, only they are known:
 * an unknown hash is PERSISTED_QUERY_NOT_FOUND, a text that is not registered OPERATION_NOT_TRUSTED,
 * and nothing is added to the cache.
 */

export const PersistedQueryErrorCode = {
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_HASH_MISMATCH: 'PERSISTED_QUERY_HASH_MISMATCH',
  PERSISTED_QUERY_VERSION_UNSUPPORTED: 'PERSISTED_QUERY_VERSION_UNSUPPORTED',
} as const;

/**
 * The query text to run (with its sha256 hex when checked: `documentId`), the error to answer with
 * (and its HTTP status), or nothing to do with APQ.
 */
export type PersistedQueryResolution = { query: string | undefined; documentId?: string; register?: () => void } | { error: GraphQLError; status: number };

export interface PersistedQueries {
  /** What a request's `query` and `extensions` amount to. */
  resolve(query: unknown, extensions: unknown): PersistedQueryResolution;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function persistedQueries({ maxBytes = 16 * 1024 * 1024, trusted = NO_TRUSTED_DOCUMENTS }: { maxBytes?: number; trusted?: TrustedDocuments } = {}): PersistedQueries {
  const texts = new LRUCache<string, string>({ maxSize: maxBytes, sizeCalculation: (text) => text.length * 2 + 128 });
  const refuse = (code: string, message: string, status: number) => ({ error: new GraphQLError(message, { extensions: { code } }), status });
  return {
    resolve(query, extensions) {
      const persisted = typeof extensions === 'object' && extensions !== null ? (extensions as { persistedQuery?: unknown }).persistedQuery : undefined;
      if (persisted === undefined) return { query: typeof query === 'string' ? query : undefined };
      const { version, sha256Hash } = (persisted ?? {}) as { version?: unknown; sha256Hash?: unknown };
      if (version !== 1) return refuse(PersistedQueryErrorCode.PERSISTED_QUERY_VERSION_UNSUPPORTED, 'Unsupported persisted query version (only 1 is)', 400);
      if (typeof sha256Hash !== 'string' || !SHA256_HEX.test(sha256Hash)) {
        return refuse(PersistedQueryErrorCode.PERSISTED_QUERY_HASH_MISMATCH, 'persistedQuery.sha256Hash must be a SHA-256 hex digest', 400);
      }
      if (typeof query !== 'string') {
        const known = trusted.get(sha256Hash) ?? (trusted.required ? undefined : texts.get(sha256Hash));
        // 200, as Apollo Server and Router answer: Apollo's clients read the code and resend with the text.
        return known === undefined ? refuse(PersistedQueryErrorCode.PERSISTED_QUERY_NOT_FOUND, 'PersistedQueryNotFound', 200) : { query: known, documentId: sha256Hash };
      }
      if (createHash('sha256').update(query).digest('hex') !== sha256Hash) {
        return refuse(PersistedQueryErrorCode.PERSISTED_QUERY_HASH_MISMATCH, 'provided sha does not match query', 400);
      }
      if (trusted.has(sha256Hash)) return { query, documentId: sha256Hash };
      if (trusted.required) return refuse(PipelineErrorCode.OPERATION_NOT_TRUSTED, 'This router runs registered operations only, and this operation is not one of them: register it (clients push) or send a registered one', 400);
      // Registered only once the document has passed validation: refused documents take no room.
      return { query, documentId: sha256Hash, register: () => texts.set(sha256Hash, query) };
    },
  };
}
