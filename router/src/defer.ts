import {
  getOperationAST, Kind,
  type ArgumentNode, type DirectiveNode, type DocumentNode, type FragmentDefinitionNode, type SelectionNode, type SelectionSetNode,
} from 'graphql';

/**
 * `@defer` in client documents, for incremental delivery (execution.ts `executeIncremental`). Before
 * it is planned, an operation with `@defer` is rewritten so that each `@defer` is one deferred part
 * the planner and the response shape both name alike: every fragment spread inlined (a fragment
 * spread twice is two parts), and every `@defer` given a label of the router's own (the client's
 * labels may be missing, repeated, or variables). The client's label is kept to send with its payloads.
 */

/** The label a client gave a `@defer`: a literal, or the variable holding it. */
export type ClientLabel = string | { variable: string } | undefined;

const isDefer = (directive: DirectiveNode) => directive.name.value === 'defer';
const argument = (directive: DirectiveNode, name: string) => directive.arguments?.find((a) => a.name.value === name)?.value;
/** `@defer(if: false)`: no `@defer` at all. */
const isDisabled = (directive: DirectiveNode) => {
  const condition = argument(directive, 'if');
  return condition?.kind === Kind.BOOLEAN && !condition.value;
};

/** Whether the operation has a `@defer` (other than `@defer(if: false)`), in its fragments too. */
export function hasDefer(document: DocumentNode, operationName: string | null | undefined): boolean {
  const operation = getOperationAST(document, operationName);
  if (!operation) return false;
  const fragments = fragmentsOf(document);
  const seen = new Set<string>();
  const search = (selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.some((selection) => {
      if (selection.kind === Kind.FIELD) return !!selection.selectionSet && search(selection.selectionSet);
      if (selection.directives?.some((d) => isDefer(d) && !isDisabled(d))) return true;
      if (selection.kind === Kind.INLINE_FRAGMENT) return search(selection.selectionSet);
      const name = selection.name.value;
      if (seen.has(name)) return false;
      seen.add(name);
      const fragment = fragments.get(name);
      return !!fragment && search(fragment.selectionSet);
    });
  return search(operation.selectionSet);
}

export interface LabelledDocument {
  /** The one operation, fragment spreads inlined, each `@defer` labelled with the router's label (`@defer(if: false)` dropped). */
  document: DocumentNode;
  /** The client's label of each `@defer`, by the router's label. */
  labels: ReadonlyMap<string, ClientLabel>;
}

/** The operation rewritten for planning with `@defer` (see above); undefined when it has no `@defer`. */
export function labelDefers(document: DocumentNode, operationName: string | null | undefined): LabelledDocument | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const fragments = fragmentsOf(document);
  const labels = new Map<string, ClientLabel>();

  const relabel = (directives: readonly DirectiveNode[] | undefined): DirectiveNode[] | undefined =>
    directives?.flatMap((directive): DirectiveNode[] => {
      if (!isDefer(directive)) return [directive];
      if (isDisabled(directive)) return [];
      const given = argument(directive, 'label');
      const label = `d${labels.size}`;
      labels.set(label, given?.kind === Kind.STRING ? given.value : given?.kind === Kind.VARIABLE ? { variable: given.name.value } : undefined);
      const args: ArgumentNode[] = [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'label' }, value: { kind: Kind.STRING, value: label } }];
      const condition = directive.arguments?.find((a) => a.name.value === 'if');
      if (condition) args.push(condition);
      return [{ ...directive, arguments: args }];
    });

  const inline = (selectionSet: SelectionSetNode): SelectionSetNode => ({
    ...selectionSet,
    selections: selectionSet.selections.map((selection): SelectionNode => {
      if (selection.kind === Kind.FIELD) return selection.selectionSet ? { ...selection, selectionSet: inline(selection.selectionSet) } : selection;
      if (selection.kind === Kind.INLINE_FRAGMENT) return { ...selection, directives: relabel(selection.directives), selectionSet: inline(selection.selectionSet) };
      const fragment = fragments.get(selection.name.value);
      if (!fragment) throw new Error(`No fragment ${selection.name.value}`);
      return { kind: Kind.INLINE_FRAGMENT, typeCondition: fragment.typeCondition, directives: relabel(selection.directives), selectionSet: inline(fragment.selectionSet) };
    }),
  });

  const selectionSet = inline(operation.selectionSet);
  if (!labels.size) return undefined;
  return { document: { kind: Kind.DOCUMENT, definitions: [{ ...operation, selectionSet }] }, labels };
}

/** The label to send with a part's payloads: the client's, if it gave one. */
export function clientLabel(label: ClientLabel, variables: Record<string, unknown>): string | undefined {
  if (label === undefined || typeof label === 'string') return label;
  const value = variables[label.variable];
  return typeof value === 'string' ? value : undefined;
}

const fragmentsOf = (document: DocumentNode) =>
  new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
