import {
  defaultFieldResolver, isObjectType, Kind, valueFromASTUntyped,
  type ConstDirectiveNode, type DocumentNode, type GraphQLFieldResolver, type GraphQLSchema,
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
 * the field or on its type. Works on subgraph SDL and on a composed supergraph alike.
 */
export function requirementsOf(sdl: DocumentNode): Map<string, Requirement> {
  const byCoordinate = new Map<string, Requirement>();
  for (const definition of sdl.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    const onType = requirementOf(definition.directives);
    for (const field of definition.fields ?? []) {
      const requirement = requirementOf(field.directives) ?? onType;
      if (requirement) byCoordinate.set(`${definition.name.value}.${field.name.value}`, requirement);
    }
  }
  return byCoordinate;
}

/** Wraps the resolvers of every guarded field of an executable schema so they check the caller first. */
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
  }
  return schema;
}
