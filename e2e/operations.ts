import { parse, print, type DefinitionNode, type FragmentDefinitionNode, Kind, visit } from 'graphql';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The operations web and mobile clients send. Tests use these very documents, and
// `npm run schema:check` validates them against every schema change.
const definitions: DefinitionNode[] = readdirSync(join(import.meta.dirname, 'operations'))
  .filter((file) => file.endsWith('.graphql'))
  .flatMap((file) => parse(readFileSync(join(import.meta.dirname, 'operations', file), 'utf8')).definitions);

const fragments = new Map(
  definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
);

/** The named operation as a document, with the fragments it spreads. */
export function operation(name: string): string {
  const op = definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
  if (!op) throw new Error(`no client operation named ${name}`);
  const used = new Set<string>();
  const collect = (node: DefinitionNode) =>
    visit(node, {
      FragmentSpread(spread) {
        if (used.has(spread.name.value)) return;
        used.add(spread.name.value);
        collect(fragments.get(spread.name.value)!);
      },
    });
  collect(op);
  return [op, ...[...used].map((n) => fragments.get(n)!)].map(print).join('\n');
}
