import {
  getNamedType, GraphQLError, isObjectType, Kind,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLNamedType, type GraphQLResolveInfo, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode, type ValidationContext, type ValidationRule,
} from 'graphql';

/**
 * Fields that are expensive by nature (a password hash, a payment call) run at most once per
 * operation, so aliases, fragments or repeated selections cannot multiply their cost in one
 * request. A subgraph marks them with `@expensive` in its SDL (declared with EXPENSIVE_DIRECTIVE_SDL,
 * and `@composeDirective` so the supergraph keeps it). The API schema a router validates against
 * drops the directive: it finds the coordinates in the supergraph schema and passes them to the rule.
 */
export const EXPENSIVE_FIELD_REPEATED = 'EXPENSIVE_FIELD_REPEATED';

export const EXPENSIVE_DIRECTIVE_SDL = 'directive @expensive on FIELD_DEFINITION';

const expensiveBySchema = new WeakMap<GraphQLSchema, ReadonlySet<string>>();

/** The coordinates (`Type.field`) of the schema's fields marked `@expensive`. */
export function expensiveFieldsOf(schema: GraphQLSchema): ReadonlySet<string> {
  let fields = expensiveBySchema.get(schema);
  if (fields) return fields;
  const found = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.astNode?.directives?.some((directive) => directive.name.value === 'expensive')) found.add(`${type.name}.${field.name}`);
    }
  }
  expensiveBySchema.set(schema, (fields = found));
  return fields;
}

/**
 * How many times fields of `expensive` are selected in an operation: every alias and every
 * fragment spread counts (conditions such as `@include` are not evaluated: selected is counted).
 */
export function countExpensiveSelections(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Readonly<Record<string, FragmentDefinitionNode>>,
  expensive: ReadonlySet<string>,
): number {
  if (!expensive.size) return 0;
  const visit = (selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined, spreading: ReadonlySet<string>): number => {
    let count = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!parent || !isObjectType(parent)) continue;
        const field = parent.getFields()[selection.name.value];
        if (!field) continue;
        if (expensive.has(`${parent.name}.${field.name}`)) count++;
        if (selection.selectionSet) count += visit(selection.selectionSet, getNamedType(field.type), spreading);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        count += visit(selection.selectionSet, type, spreading);
      } else {
        const name = selection.name.value;
        const fragment = fragments[name];
        // A cycle is another rule's error; it must not loop here.
        if (!fragment || spreading.has(name)) continue;
        count += visit(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value), new Set([...spreading, name]));
      }
    }
    return count;
  };
  return visit(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined, new Set());
}

const repeated = (count: number): string => `An operation may select an expensive field (e.g. a sign-in) only once; this one selects them ${count} times`;

/** A validation rule refusing operations that select `@expensive` fields more than once. */
export function expensiveFieldRule(expensive?: ReadonlySet<string>): ValidationRule {
  return (context: ValidationContext) => {
    const schema = context.getSchema();
    const fields = expensive ?? expensiveFieldsOf(schema);
    const fragments = fragmentsOf(context.getDocument());
    return {
      OperationDefinition(node) {
        const count = countExpensiveSelections(schema, node, fragments, fields);
        if (count > 1) context.reportError(new GraphQLError(repeated(count), { nodes: node, extensions: { code: EXPENSIVE_FIELD_REPEATED } }));
      },
    };
  };
}

const countByOperation = new WeakMap<OperationDefinitionNode, number>();

/**
 * How many `@expensive` fields an operation selects, counted once per parsed operation (parsed
 * documents are cached, so their nodes are the same objects); `fragments` is asked for only then.
 */
export function expensiveSelectionsIn(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: () => Record<string, FragmentDefinitionNode>): number {
  let count = countByOperation.get(operation);
  if (count === undefined) {
    count = countExpensiveSelections(schema, operation, fragments(), expensiveFieldsOf(schema));
    countByOperation.set(operation, count);
  }
  return count;
}

/** A document's fragments by name. */
export const fragmentsOf = (document: DocumentNode): Record<string, FragmentDefinitionNode> =>
  Object.fromEntries(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));

/**
 * For the resolver of an `@expensive` field: throws EXPENSIVE_FIELD_REPEATED when its operation
 * selects expensive fields more than once, before any of them does its work.
 */
export function assertExpensiveFieldRunsOnce(info: GraphQLResolveInfo): void {
  const count = expensiveSelectionsIn(info.schema, info.operation, () => info.fragments);
  if (count > 1) throw new GraphQLError(repeated(count), { extensions: { code: EXPENSIVE_FIELD_REPEATED } });
}
