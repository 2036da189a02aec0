import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import type { GraphQLError, ParseOptions, ValidationContext, ValidationRule } from 'graphql';
import { z } from 'zod';

/** Operation limits, the same on every entry point (router HTTP, router WebSocket, subgraphs). */
export const limitsConfig = z.object({
  /** Bytes (UTF-8) of one document's text, checked before parsing: comments and whitespace count too, unlike tokens. */
  LIMIT_MAX_DOCUMENT_BYTES: z.coerce.number().int().positive().default(32 * 1024),
  LIMIT_MAX_TOKENS: z.coerce.number().int().positive().default(2000),
  LIMIT_MAX_DEPTH: z.coerce.number().int().positive().default(12),
  LIMIT_MAX_ALIASES: z.coerce.number().int().positive().default(30),
  LIMIT_MAX_DIRECTIVES: z.coerce.number().int().positive().default(50),
  LIMIT_MAX_COST: z.coerce.number().int().positive().default(5000),
  LIMIT_MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),
  /** Operations in one batched HTTP request (a JSON array): subgraphs refuse more, the router sends at most this many in one. */
  LIMIT_MAX_BATCH_OPERATIONS: z.coerce.number().int().positive().default(10),
});
export type Limits = z.infer<typeof limitsConfig>;

export const defaultLimits: Limits = limitsConfig.parse({});

export interface OperationGuards {
  /** The token limit is applied while parsing, so a huge document is dropped before it is ever built. */
  parseOptions: ParseOptions;
  validationRules: ValidationRule[];
}

// The armor rules throw by default, which validate() does not catch (a 500); reported through the
// validation context, a refusal is a 400 GRAPHQL_VALIDATION_FAILED like any other validation error.
const report = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

export function operationGuards(limits: Limits): OperationGuards {
  return {
    parseOptions: { maxTokens: limits.LIMIT_MAX_TOKENS },
    validationRules: [
      maxDepthRule({ n: limits.LIMIT_MAX_DEPTH, ignoreIntrospection: true, ...report }),
      maxAliasesRule({ n: limits.LIMIT_MAX_ALIASES, ...report }),
      maxDirectivesRule({ n: limits.LIMIT_MAX_DIRECTIVES, ...report }),
      costLimitRule({ maxCost: limits.LIMIT_MAX_COST, ignoreIntrospection: true, ...report }),
    ] as ValidationRule[],
  };
}
