import {
  defaultFieldResolver, isAbstractType, isInterfaceType, isObjectType, Kind, TypeInfo, valueFromASTUntyped, visit, visitWithTypeInfo,
  type ConstDirectiveNode, type DocumentNode, type FragmentDefinitionNode, type GraphQLFieldResolver, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';
import type { Identity } from './auth.ts';
import { ErrorCode, graphqlError } from './errors.ts';

/**
 * What a field demands of its caller, read from the federation directives
 * `@authenticated` and `@requiresScopes(scopes: [[..]])` (any inner list satisfied in full).
 */
export interface Requirement {
  authenticated: boolean;
  /** Alternatives: the caller must hold every scope of at least one. Empty means no scope needed. */
  scopes: string[][];
}

export function requirementOf(directives: readonly ConstDirectiveNode[] | undefined): Requirement | undefined {
  let requirement: Requirement | undefined;
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (name === 'authenticated') requirement = { authenticated: true, scopes: requirement?.scopes ?? [] };
    if (name === 'requiresScopes') {
      const argument = directive.arguments?.find((a) => a.name.value === 'scopes');
      const scopes = argument ? (valueFromASTUntyped(argument.value) as string[][]) : [];
      requirement = { authenticated: true, scopes: [...(requirement?.scopes ?? []), ...scopes] };
    }
  }
  return requirement;
}

/** Throws the GraphQL error a caller gets when it does not meet a requirement. */
export function assertMeets(identity: Identity | null, requirement: Requirement, coordinate: string): void {
  if (!identity) throw graphqlError(ErrorCode.UNAUTHENTICATED, `${coordinate} requires a signed-in user`);
  if (requirement.scopes.length && !requirement.scopes.some((all) => all.every((s) => identity.scopes.has(s)))) {
    throw graphqlError(ErrorCode.FORBIDDEN, `${coordinate} requires scope ${requirement.scopes.map((all) => all.join('+')).join(' or ')}`);
  }
}

/**
 * Every field coordinate ("Type.field") of an SDL document that carries a requirement, either on
 * the field or on its type, for object types and interfaces. Works on subgraph SDL and on a
 * composed supergraph alike (composition keeps the directives, and propagates implementations'
 * requirements onto their interfaces).
 */
export function requirementsOf(sdl: DocumentNode): Map<string, Requirement> {
  const byCoordinate = new Map<string, Requirement>();
  for (const definition of sdl.definitions) {
    if (!FIELD_OWNERS.has(definition.kind) || !('fields' in definition)) continue;
    const onType = requirementOf(definition.directives);
    for (const field of definition.fields ?? []) {
      const requirement = requirementOf(field.directives) ?? onType;
      if (requirement) byCoordinate.set(`${definition.name.value}.${field.name.value}`, requirement);
    }
  }
  return byCoordinate;
}

const FIELD_OWNERS = new Set<string>([Kind.OBJECT_TYPE_DEFINITION, Kind.OBJECT_TYPE_EXTENSION, Kind.INTERFACE_TYPE_DEFINITION, Kind.INTERFACE_TYPE_EXTENSION]);

/**
 * Wraps the resolvers of every guarded field of an executable schema so they check the caller
 * first. A subscription field's `subscribe` is wrapped too, so a caller who may not see it is
 * refused when subscribing (no event stream is ever set up), not on each event.
 */
export function enforceRequirements<C extends { identity: Identity | null }>(schema: GraphQLSchema, sdl: DocumentNode): GraphQLSchema {
  for (const [coordinate, requirement] of requirementsOf(sdl)) {
    const [typeName, fieldName] = coordinate.split('.') as [string, string];
    const type = schema.getType(typeName);
    if (!isObjectType(type)) continue;
    const field = type.getFields()[fieldName];
    if (!field) continue;
    const resolve: GraphQLFieldResolver<unknown, C> = field.resolve ?? defaultFieldResolver;
    field.resolve = (source, args, context: C, info) => {
      assertMeets(context.identity, requirement, coordinate);
      return resolve(source, args, context, info);
    };
    const subscribe: GraphQLFieldResolver<unknown, C> | undefined = field.subscribe;
    if (subscribe) {
      field.subscribe = (source, args, context: C, info) => {
        assertMeets(context.identity, requirement, coordinate);
        return subscribe(source, args, context, info);
      };
    }
  }
  return schema;
}

export type GuardedField = readonly [coordinate: string, requirement: Requirement];

/**
 * The guarded fields an operation selects, through fragments too, to refuse an operation before
 * it runs. A field selected on an interface counts as selected on every implementation (which one
 * comes back is not known before execution), so it carries all of their requirements.
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
