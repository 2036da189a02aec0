import { Kind, type DefinitionNode, type DocumentNode, type FieldDefinitionNode, type TypeNode } from 'graphql';
import { badInput, BadInputReason } from './bad-input.ts';

export type LintSeverity = 'ERROR' | 'WARNING' | 'OFF';

/** The project's schema conventions (README "Conventions", API.md), each with its default severity. */
export const LINT_RULES = {
  'type-names-pascal-case': 'ERROR',
  'field-names-camel-case': 'ERROR',
  'enum-values-upper-case': 'ERROR',
  /** A warning by default: several existing root fields say what they do by name alone. */
  'root-field-descriptions': 'WARNING',
  'mutation-input': 'ERROR',
  'mutation-payload': 'ERROR',
} as const satisfies Record<string, LintSeverity>;
export type LintRule = keyof typeof LINT_RULES;

export interface LintFinding {
  rule: LintRule;
  severity: Exclude<LintSeverity, 'OFF'>;
  subgraph: string;
  coordinate: string;
  message: string;
}

/** The defaults with the given overrides; an unknown rule name is refused (a typo would silently do nothing). */
export function lintSettings(overrides: readonly { rule: string; severity: LintSeverity }[] = []): Record<LintRule, LintSeverity> {
  const settings: Record<LintRule, LintSeverity> = { ...LINT_RULES };
  for (const { rule, severity } of overrides) {
    if (!(rule in LINT_RULES)) throw badInput(BadInputReason.UNKNOWN_LINT_RULE, `Unknown lint rule "${rule}"; rules: ${Object.keys(LINT_RULES).join(', ')}`);
    settings[rule as LintRule] = severity;
  }
  return settings;
}

const PASCAL_CASE = /^[A-Z][A-Za-z0-9]*$/;
const CAMEL_CASE = /^[a-z][A-Za-z0-9]*$/;
const UPPER_CASE = /^[A-Z][A-Z0-9_]*$/;
const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);
const capitalised = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const printType = (type: TypeNode): string =>
  type.kind === Kind.NAMED_TYPE ? type.name.value : type.kind === Kind.LIST_TYPE ? `[${printType(type.type)}]` : `${printType(type.type)}!`;
const inaccessible = (node: { directives?: readonly { name: { value: string } }[] }) => (node.directives ?? []).some((d) => /^(federation__)?inaccessible$/.test(d.name.value));

/** Checks one subgraph's SDL against the conventions; federation's own types (`_Service`…) are not the subgraph's to name. */
export function lintSubgraph(subgraph: string, document: DocumentNode, settings: Record<LintRule, LintSeverity>): LintFinding[] {
  const findings: LintFinding[] = [];
  const report = (rule: LintRule, coordinate: string, message: string) => {
    const severity = settings[rule];
    if (severity !== 'OFF') findings.push({ rule, severity, subgraph, coordinate, message });
  };
  const definitions = document.definitions.filter((d): d is DefinitionNode & { name: { value: string } } => 'name' in d && !!d.name && !d.name.value.startsWith('_') && d.kind !== Kind.DIRECTIVE_DEFINITION);
  const fieldsOf = (typeName: string): FieldDefinitionNode[] =>
    definitions.filter((d) => d.name.value === typeName).flatMap((d) => ('fields' in d && d.kind !== Kind.INPUT_OBJECT_TYPE_DEFINITION && d.kind !== Kind.INPUT_OBJECT_TYPE_EXTENSION ? ((d.fields ?? []) as FieldDefinitionNode[]) : []));

  for (const definition of definitions) {
    const typeName = definition.name.value;
    if (!PASCAL_CASE.test(typeName)) report('type-names-pascal-case', typeName, `Type ${typeName} should be named in PascalCase.`);
    if ('values' in definition) {
      for (const value of definition.values ?? []) {
        if (!UPPER_CASE.test(value.name.value)) report('enum-values-upper-case', `${typeName}.${value.name.value}`, `Enum value ${typeName}.${value.name.value} should be UPPER_CASE.`);
      }
    }
    if (!('fields' in definition)) continue;
    for (const field of definition.fields ?? []) {
      const coordinate = `${typeName}.${field.name.value}`;
      if (!CAMEL_CASE.test(field.name.value)) report('field-names-camel-case', coordinate, `Field ${coordinate} should be named in camelCase.`);
      if (field.kind !== Kind.FIELD_DEFINITION) continue;
      for (const argument of field.arguments ?? []) {
        if (!CAMEL_CASE.test(argument.name.value)) report('field-names-camel-case', `${coordinate}(${argument.name.value}:)`, `Argument ${coordinate}(${argument.name.value}:) should be named in camelCase.`);
      }
      if (ROOT_TYPES.has(typeName) && !field.description?.value.trim() && !inaccessible(field)) {
        report('root-field-descriptions', coordinate, `${coordinate} is public and has no description: say what it returns and when it fails.`);
      }
      if (typeName !== 'Mutation') continue;
      const input = `${capitalised(field.name.value)}Input`;
      const args = field.arguments ?? [];
      if (args.length && (args.length > 1 || args[0]!.name.value !== 'input' || printType(args[0]!.type) !== `${input}!`)) {
        report('mutation-input', coordinate, `${coordinate} should take one argument, input: ${input}! (it takes ${args.map((a) => `${a.name.value}: ${printType(a.type)}`).join(', ')}).`);
      }
      const payload = `${capitalised(field.name.value)}Payload`;
      if (printType(field.type) !== `${payload}!`) {
        report('mutation-payload', coordinate, `${coordinate} should return ${payload}! (it returns ${printType(field.type)}).`);
      } else if (fieldsOf(payload).length && !fieldsOf(payload).some((f) => f.name.value === 'errors' && printType(f.type) === '[UserError!]!')) {
        report('mutation-payload', coordinate, `${payload} should have errors: [UserError!]! for the failures clients expect.`);
      }
    }
  }
  return findings;
}
