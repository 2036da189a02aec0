import type { ApolloServerPlugin } from '@apollo/server';
import type { Identity } from '@shopgraph/kit/auth';
import { assertMeets, guardedFieldsOf, type GuardedField, type Requirement } from '@shopgraph/kit/authz';
import { withHttpStatus } from '@shopgraph/kit/errors';
import type { OperationDefinitionNode } from 'graphql';

export interface AuthorizationContext {
  identity: Identity | null;
}

/**
 * Enforces the supergraph's `@authenticated` / `@requiresScopes` before execution: an operation
 * selecting any field its caller may not see is refused whole (UNAUTHENTICATED, 401; FORBIDDEN,
 * 403), so no subgraph is called. Subgraphs enforce the same directives again.
 */
export function authorizationPlugin<C extends AuthorizationContext>(requirements: ReadonlyMap<string, Requirement>): ApolloServerPlugin<C> {
  // Apollo's document cache hands back the same AST for the same query, so the walk happens once per document.
  const cache = new WeakMap<OperationDefinitionNode, GuardedField[]>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, contextValue }) {
          if (!operation) return; // Apollo has already refused a document without the requested operation
          let guarded = cache.get(operation);
          if (!guarded) {
            guarded = guardedFieldsOf(schema, document, operation, requirements);
            cache.set(operation, guarded);
          }
          try {
            for (const [coordinate, requirement] of guarded) assertMeets(contextValue.identity, requirement, coordinate);
          } catch (error) {
            throw withHttpStatus(error);
          }
        },
      };
    },
  };
}
