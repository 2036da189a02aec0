import type { ApolloServerPlugin } from '@apollo/server';
import { assertMeets, requirementOf, requirementsOf, withHttpStatus, type Identity, type Requirement } from '@shopgraph/kit';
import {
  isAbstractType, isInterfaceType, Kind, TypeInfo, visit, visitWithTypeInfo,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';

/**
 * What each field coordinate demands, from `@authenticated` / `@requiresScopes` in a supergraph
 * (composition keeps them, and propagates implementations' requirements onto their interfaces).
 * The kit's `requirementsOf` reads object types; interface fields are added here.
 */
export function supergraphRequirements(supergraph: DocumentNode): Map<string, Requirement> {
  const requirements = requirementsOf(supergraph);
  for (const definition of supergraph.definitions) {
    if (definition.kind !== Kind.INTERFACE_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_EXTENSION) continue;
    const onType = requirementOf(definition.directives);
    for (const field of definition.fields ?? []) {
      const requirement = requirementOf(field.directives) ?? onType;
      if (requirement) requirements.set(`${definition.name.value}.${field.name.value}`, requirement);
    }
  }
  return requirements;
}

export type GuardedField = readonly [coordinate: string, requirement: Requirement];

/**
 * The guarded fields an operation selects, through fragments too. A field selected on an
 * interface counts as selected on every implementation (the router cannot know before
 * execution which one comes back), so it carries all of their requirements.
 */
export function guardedFieldsOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  requirements: ReadonlyMap<string, Requirement>,
): GuardedField[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  // The operation and every fragment it reaches, each visited once.
  const roots: (OperationDefinitionNode | FragmentDefinitionNode)[] = [operation];
  const reached = new Set<string>();
  const collectSpreads = (selectionSet: SelectionSetNode) => {
    visit(selectionSet, {
      FragmentSpread(spread) {
        const fragment = fragments.get(spread.name.value);
        if (!fragment || reached.has(fragment.name.value)) return;
        reached.add(fragment.name.value);
        roots.push(fragment);
        collectSpreads(fragment.selectionSet);
      },
    });
  };
  collectSpreads(operation.selectionSet);

  const found = new Map<string, Requirement>();
  const check = (coordinate: string) => {
    const requirement = requirements.get(coordinate);
    if (requirement) found.set(coordinate, requirement);
  };
  for (const root of roots) {
    const typeInfo = new TypeInfo(schema);
    visit(root, visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        const name = node.name.value;
        if (!parent || name.startsWith('__')) return;
        check(`${parent.name}.${name}`);
        if (isAbstractType(parent)) {
          for (const type of schema.getPossibleTypes(parent)) if (name in type.getFields()) check(`${type.name}.${name}`);
          // Interfaces implementing this one (their fields may carry propagated requirements too).
          if (isInterfaceType(parent)) {
            for (const iface of schema.getImplementations(parent).interfaces) if (name in iface.getFields()) check(`${iface.name}.${name}`);
          }
        }
      },
    }));
  }
  return [...found];
}

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
