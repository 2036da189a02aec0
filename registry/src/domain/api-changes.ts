import { ChangeType, CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import { getNamedType, isInputObjectType, isInterfaceType, isObjectType, type GraphQLSchema } from 'graphql';

export type ChangeSeverity = 'BREAKING' | 'DANGEROUS' | 'SAFE';

/** One change of the client-facing API, or of the contract between subgraphs. */
export interface SchemaChange {
  /** inspector's change type (FIELD_REMOVED…), or ours for federation changes (KEY_REMOVED…). */
  kind: string;
  severity: ChangeSeverity;
  /** Schema coordinate: `Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`, `Input.field`. */
  coordinate: string;
  /** A sentence a person understands: what changed and what it does to clients. */
  message: string;
  /** The subgraph whose change it is, when it comes from one subgraph's directives. */
  subgraph: string | null;
  /**
   * The fields (`Type.field`) whose use decides whether the change affects anyone: the field
   * itself, or every field that returns or takes the changed type. Empty: usage cannot tell.
   */
  usageCoordinates: string[];
}

const SEVERITY: Record<CriticalityLevel, ChangeSeverity> = {
  [CriticalityLevel.Breaking]: 'BREAKING',
  [CriticalityLevel.Dangerous]: 'DANGEROUS',
  [CriticalityLevel.NonBreaking]: 'SAFE',
};

/** What a change does to clients, after inspector's description of it. */
const CONSEQUENCE: Partial<Record<string, (change: Change) => string>> = {
  [ChangeType.FieldRemoved]: () => 'operations selecting it fail validation',
  [ChangeType.FieldTypeChanged]: (c) =>
    outputLoosened(c.meta.oldFieldType, c.meta.newFieldType) ? 'it may now be null where clients count on a value'
    : c.criticality.level === CriticalityLevel.NonBreaking ? 'every value clients got before is still valid'
    : 'clients get values of another type',
  [ChangeType.FieldArgumentAdded]: (c) => (c.criticality.level === CriticalityLevel.Breaking ? 'operations that do not pass it fail' : 'operations that do not pass it work as before'),
  [ChangeType.FieldArgumentRemoved]: () => 'operations passing it fail validation',
  [ChangeType.FieldArgumentTypeChanged]: (c) => (c.criticality.level === CriticalityLevel.Breaking ? 'values or variables clients send may no longer be accepted' : 'every value clients sent before is still accepted'),
  [ChangeType.FieldArgumentDefaultChanged]: () => 'operations that omit it get a different behaviour',
  [ChangeType.InputFieldAdded]: (c) => (c.criticality.level === CriticalityLevel.Breaking ? 'inputs that do not set it are refused' : 'inputs that do not set it work as before'),
  [ChangeType.InputFieldRemoved]: () => 'inputs that set it are refused',
  [ChangeType.InputFieldTypeChanged]: (c) => (c.criticality.level === CriticalityLevel.Breaking ? 'values clients send may no longer be accepted' : 'every value clients sent before is still accepted'),
  [ChangeType.InputFieldDefaultValueChanged]: () => 'inputs that omit it get a different behaviour',
  [ChangeType.EnumValueRemoved]: () => 'operations or variables using it fail, and clients that switch on it lose a case',
  [ChangeType.EnumValueAdded]: () => 'clients that switch over every value may not handle the new one',
  [ChangeType.TypeRemoved]: () => 'operations naming it (fragments, variables) fail validation',
  [ChangeType.TypeKindChanged]: () => 'operations written for the old kind fail validation',
  [ChangeType.UnionMemberRemoved]: () => 'fragments on it inside the union no longer apply',
  [ChangeType.UnionMemberAdded]: () => 'clients that handle every member may not handle the new one',
  [ChangeType.ObjectTypeInterfaceRemoved]: () => 'fragments on the interface no longer match it',
  [ChangeType.ObjectTypeInterfaceAdded]: () => 'clients that handle every implementation may not handle it',
  [ChangeType.FieldDeprecationAdded]: () => 'clients still work; plan its removal',
};

/** `String!` → `String`: the same type, now nullable. */
function outputLoosened(oldType: string, newType: string): boolean {
  return oldType === `${newType}!`;
}

/**
 * The changes of the client-facing API from `before` to `after`, classified. inspector finds
 * and classifies them; we differ where its rule does not fit a client's view (see `severityOf`).
 */
export async function apiChanges(before: GraphQLSchema, after: GraphQLSchema): Promise<SchemaChange[]> {
  const references = fieldsReferencingTypes(before);
  // Descriptions change no operation's result; directive usages are reported by their own changes (deprecation…).
  const changes = (await diff(before, after)).filter((change) => !/^DIRECTIVE_USAGE_|_DESCRIPTION_/.test(String(change.type)));
  return changes.map((change) => {
    const severity = severityOf(change);
    const consequence = CONSEQUENCE[change.type]?.(change);
    return {
      kind: String(change.type),
      severity,
      coordinate: coordinateOf(change),
      message: `${change.message}${consequence ? `: ${consequence}` : ''}.`,
      subgraph: null,
      usageCoordinates: usageCoordinatesOf(change, references),
    };
  });
}

/**
 * inspector's level, except: an optional argument added to an existing field is SAFE (inspector:
 * DANGEROUS, for a default that could change the field's behaviour; but operations written before
 * it never pass it, and the field answered them without it until now, so nothing they see changes).
 */
export function severityOf(change: Change): ChangeSeverity {
  if (change.type === ChangeType.FieldArgumentAdded && !change.meta.isAddedFieldArgumentBreaking) return 'SAFE';
  return SEVERITY[change.criticality.level];
}

/** `Type.field(arg:)` for arguments; inspector's dotted path for everything else (without its `.@directive` tail). */
function coordinateOf(change: Change): string {
  const segments = (change.path ?? '').split('.');
  const path = segments[0]?.startsWith('@') ? segments.join('.') : segments.filter((segment) => !segment.startsWith('@')).join('.');
  if (String(change.type).startsWith('FIELD_ARGUMENT_')) {
    const [type, field, argument] = path.split('.');
    return `${type}.${field}(${argument}:)`;
  }
  return path;
}

function usageCoordinatesOf(change: Change, references: Map<string, Set<string>>): string[] {
  const referencing = (...types: string[]) => [...new Set(types.flatMap((type) => [...(references.get(type) ?? [])]))].sort();
  const meta = change.meta as Record<string, string>;
  switch (change.type) {
    case ChangeType.InputFieldAdded:
    case ChangeType.InputFieldRemoved:
    case ChangeType.InputFieldTypeChanged:
    case ChangeType.InputFieldDefaultValueChanged:
      return referencing(meta['inputName']!);
    case ChangeType.EnumValueAdded:
    case ChangeType.EnumValueRemoved:
      return referencing(meta['enumName']!);
    case ChangeType.TypeRemoved:
      return referencing(meta['removedTypeName']!);
    case ChangeType.TypeKindChanged:
      return referencing(meta['typeName']!);
    case ChangeType.UnionMemberRemoved:
    case ChangeType.UnionMemberAdded:
      return referencing(meta['unionName']!);
    case ChangeType.ObjectTypeInterfaceRemoved:
      return referencing(meta['objectTypeName']!, meta['removedInterfaceName']!);
    case ChangeType.ObjectTypeInterfaceAdded:
      return referencing(meta['objectTypeName']!);
  }
  const [type, field] = (change.path ?? '').split('.');
  if (type?.startsWith('@')) return [];
  return type && field && !field.startsWith('@') ? [`${type}.${field}`] : type ? referencing(type) : [];
}

/**
 * For every named type, the fields (`Type.field`) that return it or take it in an argument,
 * through nested input objects too: where a client's operation meets that type.
 */
export function fieldsReferencingTypes(schema: GraphQLSchema): Map<string, Set<string>> {
  const references = new Map<string, Set<string>>();
  const add = (type: string, coordinate: string) => {
    let set = references.get(type);
    if (!set) references.set(type, (set = new Set()));
    set.add(coordinate);
  };
  const inputsReachable = (name: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(name)) return seen;
    seen.add(name);
    const type = schema.getType(name);
    if (isInputObjectType(type)) for (const field of Object.values(type.getFields())) inputsReachable(getNamedType(field.type).name, seen);
    return seen;
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      add(getNamedType(field.type).name, coordinate);
      for (const argument of field.args) for (const input of inputsReachable(getNamedType(argument.type).name)) add(input, coordinate);
    }
  }
  return references;
}
