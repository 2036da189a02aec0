import { Kind, print, type DefinitionNode, type DirectiveNode, type DocumentNode } from 'graphql';
import type { SchemaChange } from './api-changes.ts';

/** The federation directives of one subgraph's types and fields: what the API diff cannot see. */
interface FederatedType {
  /** `@key(fields:)` selections, normalised (`id`, `sku region`), and whether this subgraph resolves the entity by it. */
  keys: Map<string, boolean>;
  inaccessible: boolean;
  tags: Set<string>;
  fields: Map<string, FederatedField>;
}
interface FederatedField {
  requires: string | null;
  external: boolean;
  inaccessible: boolean;
  tags: Set<string>;
}
export type FederatedSubgraph = Map<string, FederatedType>;

const FIELD_OWNERS = new Set<string>([Kind.OBJECT_TYPE_DEFINITION, Kind.OBJECT_TYPE_EXTENSION, Kind.INTERFACE_TYPE_DEFINITION, Kind.INTERFACE_TYPE_EXTENSION]);

/** A directive's name without the `federation__` namespace composition also accepts. */
const directiveName = (directive: DirectiveNode) => directive.name.value.replace(/^federation__/, '');
const stringArgument = (directive: DirectiveNode, name: string): string | null => {
  const value = directive.arguments?.find((a) => a.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : value ? print(value) : null;
};
/** `id  sku` and `id sku` are one selection. */
const normalise = (selection: string) => selection.replace(/[\s,]+/g, ' ').trim();

/** Reads the federation directives of a subgraph's SDL. */
export function federatedSubgraph(document: DocumentNode): FederatedSubgraph {
  const types: FederatedSubgraph = new Map();
  for (const definition of document.definitions as readonly DefinitionNode[]) {
    if (!('name' in definition) || !definition.name || !('directives' in definition)) continue;
    const name = definition.name.value;
    const type = types.get(name) ?? { keys: new Map<string, boolean>(), inaccessible: false, tags: new Set<string>(), fields: new Map<string, FederatedField>() };
    types.set(name, type);
    for (const directive of definition.directives ?? []) {
      const kind = directiveName(directive);
      if (kind === 'key') type.keys.set(normalise(stringArgument(directive, 'fields') ?? ''), stringArgument(directive, 'resolvable') !== 'false');
      if (kind === 'inaccessible') type.inaccessible = true;
      if (kind === 'tag') type.tags.add(stringArgument(directive, 'name') ?? '');
    }
    if (!FIELD_OWNERS.has(definition.kind) || !('fields' in definition)) continue;
    for (const field of definition.fields ?? []) {
      const directives = field.directives ?? [];
      const requires = directives.find((d) => directiveName(d) === 'requires');
      type.fields.set(field.name.value, {
        requires: requires ? normalise(stringArgument(requires, 'fields') ?? '') : null,
        external: directives.some((d) => directiveName(d) === 'external'),
        inaccessible: directives.some((d) => directiveName(d) === 'inaccessible'),
        tags: new Set(directives.filter((d) => directiveName(d) === 'tag').map((d) => stringArgument(d, 'name') ?? '')),
      });
    }
  }
  return types;
}

export interface FederationDiff {
  changes: SchemaChange[];
  /** Coordinates this subgraph hid with @inaccessible: the API diff shows them removed. */
  madeInaccessible: Set<string>;
}

const list = (names: string[]) => (names.length > 2 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join(' and '));

/**
 * What changed in one subgraph's contract with the others, from its SDL before (null: a new
 * subgraph) to after (null: the subgraph is deleted): keys, @requires/@external, @inaccessible,
 * @tag, and entities the subgraph stops resolving while other subgraphs still use them.
 */
export function federationChanges(subgraph: string, before: FederatedSubgraph | null, after: FederatedSubgraph | null, others: ReadonlyMap<string, FederatedSubgraph>): FederationDiff {
  const changes: SchemaChange[] = [];
  const madeInaccessible = new Set<string>();
  const change = (kind: string, severity: SchemaChange['severity'], coordinate: string, message: string, usageCoordinates: string[] = []) =>
    changes.push({ kind, severity, coordinate, message, subgraph, usageCoordinates });
  /** The other subgraphs that declare the type, and those that declare it with this key. */
  const othersWith = (typeName: string, key?: string) =>
    [...others].filter(([, types]) => {
      const type = types.get(typeName);
      return type && (key === undefined || type.keys.has(key));
    }).map(([name]) => name).sort();

  for (const [typeName, old] of before ?? []) {
    const now = after?.get(typeName);
    if (old.keys.size && !now?.keys.size) {
      // Breaking when subgraphs still use the entity and none of them can resolve it: their references lead nowhere.
      const users = othersWith(typeName);
      const resolvers = users.filter((name) => [...(others.get(name)?.get(typeName)?.keys.values() ?? [])].some(Boolean));
      if (users.length && !resolvers.length) {
        change('ENTITY_REMOVED_FROM_SUBGRAPH', 'BREAKING', typeName, `${typeName} is no longer an entity of ${subgraph}${now ? '' : after ? ' (type removed)' : ' (subgraph deleted)'}, yet ${list(users)} still ${users.length > 1 ? 'use' : 'uses'} it and no other subgraph resolves it: the router can no longer fetch ${typeName} by key.`);
      }
      continue;
    }
    if (!now) continue;
    for (const key of old.keys.keys()) {
      if (now.keys.has(key)) continue;
      const users = othersWith(typeName, key);
      change('KEY_REMOVED', users.length ? 'BREAKING' : 'DANGEROUS', typeName,
        `${typeName} @key(fields: "${key}") was removed from ${subgraph}: ${users.length ? `${list(users)} ${users.length > 1 ? 'resolve' : 'resolves'} ${typeName} by that key, and` : ''} the router can no longer fetch ${typeName} from ${subgraph} by it.`);
    }
    for (const key of now.keys.keys()) if (!old.keys.has(key)) change('KEY_ADDED', 'SAFE', typeName, `${typeName} @key(fields: "${key}") was added in ${subgraph}: other subgraphs may fetch it by that key.`);
    if (!old.inaccessible && now.inaccessible) madeInaccessible.add(typeName);
    tagChanges(typeName, old.tags, now.tags);
    for (const [fieldName, field] of old.fields) {
      const next = now.fields.get(fieldName);
      if (!next) continue;
      const coordinate = `${typeName}.${fieldName}`;
      if (field.requires !== next.requires) {
        if (next.requires === null) change('REQUIRES_REMOVED', 'SAFE', coordinate, `${coordinate} no longer @requires "${field.requires}" in ${subgraph}: one fetch fewer.`, [coordinate]);
        else change(field.requires === null ? 'REQUIRES_ADDED' : 'REQUIRES_CHANGED', 'DANGEROUS', coordinate, `${coordinate} now @requires(fields: "${next.requires}") in ${subgraph}: the router fetches those fields from other subgraphs first, one more hop for every operation that selects it.`, [coordinate]);
      }
      if (!field.external && next.external) change('EXTERNAL_ADDED', 'DANGEROUS', coordinate, `${coordinate} became @external in ${subgraph}: ${subgraph} stops resolving it, and other subgraphs must serve it.`, [coordinate]);
      if (field.external && !next.external) change('EXTERNAL_REMOVED', 'SAFE', coordinate, `${coordinate} is no longer @external in ${subgraph}: ${subgraph} resolves it itself.`, [coordinate]);
      if (!field.inaccessible && next.inaccessible) madeInaccessible.add(coordinate);
      tagChanges(coordinate, field.tags, next.tags);
    }
  }

  function tagChanges(coordinate: string, old: Set<string>, now: Set<string>) {
    for (const tag of now) if (!old.has(tag)) change('TAG_ADDED', 'SAFE', coordinate, `${coordinate} was tagged @tag(name: "${tag}") in ${subgraph}: contract variants that include "${tag}" gain it.`);
    for (const tag of old) if (!now.has(tag)) change('TAG_REMOVED', 'DANGEROUS', coordinate, `${coordinate} lost @tag(name: "${tag}") in ${subgraph}: contract variants that include "${tag}" lose it.`, [coordinate]);
  }
  return { changes, madeInaccessible };
}
