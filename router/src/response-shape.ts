import {
  getNamedType, getNullableType, GraphQLError, GraphQLList, GraphQLNonNull, isAbstractType, isCompositeType, isEnumType, isInterfaceType, isObjectType, Kind, valueFromASTUntyped,
  type DirectiveNode, type DocumentNode, type FragmentDefinitionNode, type GraphQLCompositeType, type GraphQLNamedType, type GraphQLOutputType, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';

/**
 * The client's answer cut from what the subgraphs returned: its fields in its order under its
 * aliases, `__typename`s, type conditions, `@skip`/`@include`, and null propagation for
 * non-null fields. The same rules as @apollo/gateway's result shaping (resultShaping.ts), with
 * the operation compiled once per document instead of walked through the federation model on
 * every request: this is most of a large query's gateway time.
 */
export interface ResponseShape {
  /** The response's `data`, and the errors of values the schema does not allow (INVALID_GRAPHQL). */
  apply(input: Record<string, unknown>, variables: Record<string, unknown> | undefined): { data: Record<string, unknown> | null; errors: GraphQLError[] };
}

/** `@skip(if:)` / `@include(if:)`: a literal, or the variable holding it. */
type Flag = boolean | { variable: string };

interface Step {
  responseName: string;
  skip: Flag | undefined;
  include: Flag | undefined;
}
interface FieldStep extends Step {
  kind: 'field';
  type: GraphQLOutputType;
  selections: Selection[] | undefined;
}
interface TypenameStep extends Step {
  kind: 'typename';
}
interface FragmentStep extends Omit<Step, 'responseName'> {
  kind: 'fragment';
  typeCondition: GraphQLCompositeType | undefined;
  /** Whether the condition holds, by concrete type name (filled as types are seen). */
  applies: Map<string, boolean>;
  selections: Selection[];
}
type Selection = FieldStep | TypenameStep | FragmentStep;

/** Per `apply`: what a completion reports besides its value (no object per value, so no garbage). */
interface State {
  schema: GraphQLSchema;
  variables: Record<string, unknown>;
  errors: GraphQLError[];
  /** The value completed to null where null is not allowed: the parent must become null too. */
  invalid: boolean;
  /** An error was already reported for this value (so a non-null parent does not add another). */
  reported: boolean;
}

/**
 * Compiles the shape of `operationName` in `document` (already validated against `schema`, the API
 * schema). Undefined for what it leaves to the gateway: introspection fields, and response names that
 * are Object.prototype members (`constructor`, `__proto__`…).
 */
export function compileResponseShape(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): ResponseShape | undefined {
  const compiled = compileOperation(schema, document, operationName, undefined);
  if (!compiled) return undefined;
  const { root, rootType, defaults, hasDefaults } = compiled;
  return {
    apply(input, variables) {
      const state: State = { schema, variables: hasDefaults ? { ...defaults, ...variables } : (variables ?? {}), errors: [], invalid: false, reported: false };
      const data: Record<string, unknown> = {};
      const ok = applySelections(state, input, root, data, rootType, []);
      return { data: ok ? data : null, errors: state.errors };
    },
  };
}

/** One step from the response's root to a `@defer`red fragment: a field (by response name), or an enclosing fragment. */
type Ancestor = { kind: 'field'; responseName: string } | { kind: 'fragment'; step: FragmentStep; parentType: GraphQLCompositeType };

/** While compiling for incremental delivery: where the compiler is, and the `@defer`s found so far. */
interface DeferCollector {
  ancestry: Ancestor[];
  enclosing: DeferPart | undefined;
  parts: DeferPart[];
}

/**
 * The operation as selections, with the variables' default values. With a `collector`, each inline
 * fragment carrying `@defer(label:)` (see defer.ts: every `@defer` of the document is labelled and its
 * fragment spreads inlined first) becomes a part of its own, and stands in its parent's selections
 * wrapped in a fragment skipped while its `@defer(if:)` holds.
 */
function compileOperation(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, collector: DeferCollector | undefined) {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation) return undefined;
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return undefined;
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));

  let supported = true;
  const compile = (selectionSet: SelectionSetNode, parentType: GraphQLCompositeType): Selection[] =>
    selectionSet.selections.map((selection): Selection => {
      const conditions = conditionsOf(selection.directives);
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        const responseName = selection.alias?.value ?? name;
        // Such a key could reach Object.prototype's members through a plain object: the gateway answers these.
        if (responseName in Object.prototype) supported = false;
        if (name === '__typename') return { kind: 'typename', responseName, ...conditions };
        if (name === '__schema' || name === '__type') {
          supported = false;
          return { kind: 'typename', responseName, ...conditions };
        }
        const field = 'getFields' in parentType ? parentType.getFields()[name] : undefined;
        if (!field) throw new Error(`No field ${parentType.name}.${name} (the document was not validated against this schema)`);
        const fieldType = getNamedType(field.type);
        let selections: Selection[] | undefined;
        if (selection.selectionSet && isCompositeType(fieldType)) {
          collector?.ancestry.push({ kind: 'field', responseName });
          selections = compile(selection.selectionSet, fieldType);
          collector?.ancestry.pop();
        }
        return { kind: 'field', responseName, type: field.type, ...conditions, selections };
      }
      const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection;
      if (!fragment) throw new Error(`No fragment ${selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : ''}`);
      const typeCondition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : undefined;
      if (typeCondition !== undefined && !isCompositeType(typeCondition)) throw new Error(`Fragment on non-composite type ${String(typeCondition)}`);
      const step: FragmentStep = { kind: 'fragment', typeCondition, applies: new Map(), ...conditions, selections: [] };
      if (!collector) {
        step.selections = compile(fragment.selectionSet, typeCondition ?? parentType);
        return step;
      }
      const defer = selection.kind === Kind.INLINE_FRAGMENT ? deferOf(selection.directives) : undefined;
      const part: DeferPart | undefined = defer && { ...defer, parent: collector.enclosing, ancestry: [...collector.ancestry], step, parentType };
      const enclosing = collector.enclosing;
      if (part) {
        collector.parts.push(part);
        collector.enclosing = part;
      }
      collector.ancestry.push({ kind: 'fragment', step, parentType });
      step.selections = compile(fragment.selectionSet, typeCondition ?? parentType);
      collector.ancestry.pop();
      collector.enclosing = enclosing;
      if (!part) return step;
      // Left out of its parent's payload while deferred; inlined in it when `@defer(if: false)`.
      return { kind: 'fragment', typeCondition: undefined, applies: new Map(), skip: part.deferred, include: undefined, selections: [step] };
    });

  const root = compile(operation.selectionSet, rootType);
  if (!supported) return undefined;
  const defaults: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults[definition.variable.name.value] = valueFromASTUntyped(definition.defaultValue);
  }
  return { root, rootType, defaults, hasDefaults: Object.keys(defaults).length > 0 };
}

/** `@defer(label: "…", if: …)` of a labelled document: its label, and when it defers. */
function deferOf(directives: readonly DirectiveNode[] | undefined): { label: string; deferred: Flag } | undefined {
  const directive = directives?.find((d) => d.name.value === 'defer');
  if (!directive) return undefined;
  const label = directive.arguments?.find((a) => a.name.value === 'label')?.value;
  if (label?.kind !== Kind.STRING) throw new Error('An unlabelled @defer (label every @defer before compiling)');
  const condition = directive.arguments?.find((a) => a.name.value === 'if')?.value;
  const deferred: Flag = condition === undefined ? true : condition.kind === Kind.VARIABLE ? { variable: condition.name.value } : condition.kind === Kind.BOOLEAN ? condition.value : true;
  return { label: label.value, deferred };
}

/** A `@defer`red fragment of an operation: delivered in its own payloads, after its parent's. */
export interface DeferPart {
  /** Its label in the (labelled) document, which the query plan's deferred nodes carry. */
  readonly label: string;
  /** Deferred when this holds (`@defer(if:)`); else its fragment is part of its parent's payload. */
  readonly deferred: Flag;
  /** The nearest `@defer` it is nested in; undefined: the initial payload's. */
  readonly parent: DeferPart | undefined;
  readonly ancestry: readonly Ancestor[];
  /** The fragment itself (its type condition, `@skip`/`@include` and selections). */
  readonly step: FragmentStep;
  /** The type of the selection set it is in. */
  readonly parentType: GraphQLCompositeType;
}

/** The object a deferred part applies to, at its path in the response. */
export interface DeferTarget {
  path: Array<string | number>;
  /** The subgraphs' merged answers for that object. */
  input: Record<string, unknown>;
}

/**
 * The shape of an operation delivered incrementally (`@defer`): its initial payload, which leaves out
 * the fragments deferred for the request's variables, and each deferred fragment's payload at every
 * object it applies to. Variables are passed with their defaults (`variables`).
 */
export interface IncrementalShape {
  readonly parts: readonly DeferPart[];
  /** The client's variables with the operation's default values (and `@defer(if:)`'s, true, for a variable there not given). */
  variables(given: Record<string, unknown> | undefined): Record<string, unknown>;
  /** Whether `part` is deferred for these variables (else its fragment is part of its parent's payload). */
  isDeferred(part: DeferPart, variables: Record<string, unknown>): boolean;
  /** The initial payload's data (as `ResponseShape.apply`). */
  apply(input: Record<string, unknown>, variables: Record<string, unknown>): { data: Record<string, unknown> | null; errors: GraphQLError[] };
  /**
   * The objects `part` applies to: those at its place in `view` (the response the client has so far;
   * none under a null) which its fragment, and the fragments it is nested in, select; their data from `input`.
   */
  targets(part: DeferPart, input: Record<string, unknown>, view: Record<string, unknown>, variables: Record<string, unknown>): DeferTarget[];
  /** The part's payload data for one target (null when a non-null field of it is null). */
  applyPart(part: DeferPart, target: DeferTarget, variables: Record<string, unknown>): { data: Record<string, unknown> | null; errors: GraphQLError[] };
}

/** Compiles a labelled document (defer.ts `labelDefers`) for incremental delivery; undefined as `compileResponseShape`. */
export function compileIncrementalShape(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): IncrementalShape | undefined {
  const collector: DeferCollector = { ancestry: [], enclosing: undefined, parts: [] };
  const compiled = compileOperation(schema, document, operationName, collector);
  if (!compiled) return undefined;
  const { root, rootType, defaults } = compiled;
  // `@defer(if: $v)` with a nullable `$v` not given: the argument's default, true. (Validation lets
  // such a variable only where arguments have defaults: not in `@skip`/`@include`.)
  const conditions = [...new Set(collector.parts.flatMap(({ deferred }) => (typeof deferred === 'object' ? [deferred.variable] : [])))];
  const stateOf = (variables: Record<string, unknown>): State => ({ schema, variables, errors: [], invalid: false, reported: false });
  return {
    parts: collector.parts,
    variables(given) {
      const variables = { ...defaults, ...given };
      for (const name of conditions) variables[name] ??= true;
      return variables;
    },
    isDeferred: (part, variables) => flagValue(part.deferred, variables),
    apply(input, variables) {
      const state = stateOf(variables);
      const data: Record<string, unknown> = {};
      const ok = applySelections(state, input, root, data, rootType, []);
      return { data: ok ? data : null, errors: state.errors };
    },
    targets(part, input, view, variables) {
      const targets: DeferTarget[] = [];
      collectTargets(stateOf(variables), part, 0, input, view, [], targets);
      return targets;
    },
    applyPart(part, { path, input }, variables) {
      const state = stateOf(variables);
      const data: Record<string, unknown> = {};
      const ok = applySelections(state, input, part.step.selections, data, part.step.typeCondition ?? objectTypeOf(schema, input, part.parentType), [...path]);
      return { data: ok ? data : null, errors: state.errors };
    },
  };
}

/** The concrete type of an object of the subgraphs' answers (its `__typename`), else the static one. */
function objectTypeOf(schema: GraphQLSchema, input: Record<string, unknown>, parentType: GraphQLCompositeType): GraphQLCompositeType {
  const typename = input['__typename'];
  const type = typeof typename === 'string' ? schema.getType(typename) : undefined;
  return type && isCompositeType(type) ? type : parentType;
}

/** Whether a fragment selects this object: not skipped, and its type condition holds. */
function fragmentApplies(state: State, step: FragmentStep, input: Record<string, unknown>, parentType: GraphQLCompositeType): boolean {
  if ((step.skip !== undefined || step.include !== undefined) && skipped(step, state.variables)) return false;
  if (!step.typeCondition) return true;
  const typename = input['__typename'];
  if (typename !== undefined && typename !== null && typeof typename !== 'string') return false;
  return conditionApplies(state.schema, step, typename || parentType.name);
}

/** Walks `part`'s ancestry from `at` in the subgraphs' answers and the client's view alike, into every list element. */
function collectTargets(state: State, part: DeferPart, at: number, input: unknown, view: unknown, path: Array<string | number>, out: DeferTarget[]): void {
  if (input === null || input === undefined || view === null || view === undefined) return;
  if (Array.isArray(input)) {
    if (!Array.isArray(view) || view.length !== input.length) return;
    for (let i = 0; i < input.length; i++) {
      path.push(i);
      collectTargets(state, part, at, input[i], view[i], path, out);
      path.pop();
    }
    return;
  }
  if (!isObject(input) || !isObject(view)) return;
  if (at === part.ancestry.length) {
    if (fragmentApplies(state, part.step, input, part.parentType)) out.push({ path: [...path], input });
    return;
  }
  const ancestor = part.ancestry[at]!;
  if (ancestor.kind === 'field') {
    path.push(ancestor.responseName);
    collectTargets(state, part, at + 1, own(input, ancestor.responseName), own(view, ancestor.responseName), path, out);
    path.pop();
  } else if (fragmentApplies(state, ancestor.step, input, ancestor.parentType)) {
    collectTargets(state, part, at + 1, input, view, path, out);
  }
}

function conditionsOf(directives: readonly DirectiveNode[] | undefined): { skip: Flag | undefined; include: Flag | undefined } {
  const flag = (name: string): Flag | undefined => {
    const value = directives?.find((d) => d.name.value === name)?.arguments?.find((a) => a.name.value === 'if')?.value;
    if (!value) return undefined;
    return value.kind === Kind.VARIABLE ? { variable: value.name.value } : value.kind === Kind.BOOLEAN ? value.value : undefined;
  };
  return { skip: flag('skip'), include: flag('include') };
}

function flagValue(flag: Flag, variables: Record<string, unknown>): boolean {
  if (typeof flag === 'boolean') return flag;
  const value = variables[flag.variable];
  if (typeof value !== 'boolean') throw new Error(`Unexpected value ${String(value)} for variable $${flag.variable} of @skip/@include`);
  return value;
}

const skipped = (step: Selection, variables: Record<string, unknown>): boolean =>
  (step.skip !== undefined && flagValue(step.skip, variables)) || (step.include !== undefined && !flagValue(step.include, variables));

/** A key's value only when the object has it itself (never an Object.prototype member). */
export const own = (object: Record<string, unknown>, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);

/** Fills `output` from `input` by `selections`; false when a non-null field is null (the parent becomes null). */
function applySelections(state: State, input: Record<string, unknown>, selections: Selection[], output: Record<string, unknown>, parentType: GraphQLCompositeType, path: Array<string | number>): boolean {
  for (const step of selections) {
    if ((step.skip !== undefined || step.include !== undefined) && skipped(step, state.variables)) continue;
    if (step.kind === 'field') {
      path.push(step.responseName);
      output[step.responseName] = complete(state, output[step.responseName], step.type, own(input, step.responseName) ?? null, step.selections, path, parentType);
      path.pop();
      if (state.invalid) return false;
    } else if (step.kind === 'typename') {
      if (output[step.responseName] !== undefined) continue;
      let value = own(input, step.responseName) ?? null;
      if (value === null && step.responseName !== '__typename') value = input['__typename'] ?? null;
      const type: GraphQLNamedType = (typeof value === 'string' ? state.schema.getType(value) : undefined) ?? parentType;
      if (!isObjectType(type)) return false;
      output[step.responseName] = type.name;
    } else {
      const typename = input['__typename'];
      if (typename !== undefined && typename !== null && typeof typename !== 'string') throw new Error(`Got unexpected value for __typename: ${String(typename)}`);
      if (step.typeCondition && !conditionApplies(state.schema, step, typename || parentType.name)) continue;
      if (!applySelections(state, input, step.selections, output, step.typeCondition ?? parentType, path)) return false;
    }
  }
  return true;
}

function conditionApplies(schema: GraphQLSchema, step: FragmentStep, typeName: string): boolean {
  let applies = step.applies.get(typeName);
  if (applies === undefined) {
    applies = satisfiesTypeCondition(schema, typeName, step.typeCondition!);
    if (step.applies.size < 100) step.applies.set(typeName, applies);
  }
  return applies;
}

/** Whether an object of type `typeName` is selected by a fragment on `condition`. */
export function satisfiesTypeCondition(schema: GraphQLSchema, typeName: string, condition: GraphQLNamedType): boolean {
  const type = schema.getType(typeName);
  return !!type && (type === condition || (isAbstractType(condition) && (isObjectType(type) || isInterfaceType(type)) && schema.isSubType(condition, type)));
}

/**
 * The output value of a field (or list element) of `type` from the subgraphs' `input`, merged into
 * `output` when the operation selects the same response name twice. Sets `state.invalid` and
 * `state.reported` for the caller.
 */
function complete(state: State, output: unknown, type: GraphQLOutputType, input: unknown, selections: Selection[] | undefined, path: Array<string | number>, parentType: GraphQLCompositeType): unknown {
  state.invalid = false;
  state.reported = false;
  if (output === null || (output !== undefined && !selections)) return output;
  if (type instanceof GraphQLNonNull) {
    const value = complete(state, output, type.ofType, input, selections, path, parentType);
    if (value !== null) {
      state.reported = false;
      return value;
    }
    if (!state.reported) state.errors.push(invalid(`Cannot return null for non-nullable ${describe(path, type.ofType, parentType)}.`, path));
    state.invalid = true;
    state.reported = true;
    return null;
  }
  if (input === null) return null;
  if (type instanceof GraphQLList) {
    if (!Array.isArray(input)) throw new Error(`Invalid non-list value ${String(input)} returned by subgraph for list type ${String(type)}`);
    if (output !== undefined && (!Array.isArray(output) || output.length !== input.length)) throw new Error(`Invalid list value merged for list type ${String(type)}`);
    const list: unknown[] = (output as unknown[] | undefined) ?? new Array<unknown>(input.length);
    let nullify = false;
    let reported = false;
    for (let i = 0; i < input.length; i++) {
      path.push(i);
      list[i] = complete(state, list[i], type.ofType, input[i], selections, path, parentType);
      path.pop();
      nullify ||= state.invalid;
      reported ||= state.reported;
    }
    state.invalid = false;
    state.reported = reported;
    return nullify ? null : list;
  }
  const named = getNullableType(type);
  if (isCompositeType(named)) {
    if (typeof input !== 'object') throw new Error(`Invalid non-object value ${String(input)} returned by subgraph for composite type ${String(type)}`);
    const record = input as Record<string, unknown>;
    const typename = record['__typename'];
    let objectType: GraphQLCompositeType = named;
    if (typename) {
      if (typeof typename !== 'string') throw new Error(`Invalid non-string value ${String(typename)} for __typename at ${String(path)}`);
      const found = state.schema.getType(typename);
      if (!found || !isCompositeType(found)) {
        state.errors.push(invalid(`Invalid __typename found for object at ${describe(path, type, parentType)}.`, path));
        state.reported = true;
        return null;
      }
      objectType = found;
    }
    const object = (output as Record<string, unknown> | undefined) ?? {};
    if (!applySelections(state, record, selections ?? [], object, objectType, path)) {
      state.invalid = false;
      state.reported = true;
      return null;
    }
    state.invalid = false;
    state.reported = false;
    return object;
  }
  if (output !== undefined) throw new Error(`Expected no value yet for ${String(type)}`);
  if (isValidLeaf(named, input)) return input;
  state.errors.push(invalid(`Invalid value found for ${describe(path, type, parentType)}.`, path));
  state.reported = true;
  return null;
}

const BUILT_IN_SCALARS = new Set(['Int', 'Float', 'String', 'Boolean', 'ID']);
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

function isValidLeaf(type: GraphQLNamedType, value: unknown): boolean {
  if (!isEnumType(type) && !BUILT_IN_SCALARS.has(type.name)) return true; // custom scalars: the subgraph's business
  if (typeof value === 'boolean') return type.name === 'Boolean';
  if (typeof value === 'number' && Number.isFinite(value)) return type.name === 'Int' || type.name === 'ID' ? INTEGER.test(String(value)) : type.name === 'Float';
  if (typeof value === 'string') return isEnumType(type) ? type.getValue(value) !== undefined : type.name !== 'Boolean' && type.name !== 'Int' && type.name !== 'Float';
  return false;
}

const describe = (path: Array<string | number>, type: GraphQLOutputType, parentType: GraphQLCompositeType): string => {
  const last = path[path.length - 1];
  return typeof last === 'string' ? `field ${parentType.name}.${last}` : `array element of type ${String(type)} at index ${String(last)}`;
};

const invalid = (message: string, path: Array<string | number>): GraphQLError => new GraphQLError(message, { path: [...path], extensions: { code: 'INVALID_GRAPHQL' } });

/** A JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
