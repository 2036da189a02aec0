import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSupergraphConfig } from '../../../scripts/compose.ts';
import { lintSettings, lintSubgraph } from './lint.ts';

const lint = (sdl: string, overrides: Parameters<typeof lintSettings>[0] = []) => lintSubgraph('s', parse(sdl), lintSettings(overrides)).map((f) => [f.rule, f.severity, f.coordinate]);

describe('lint', () => {
  it.each(readSupergraphConfig())('finds no error in $name with the default severities', ({ name, schemaPath }) => {
    const findings = lintSubgraph(name, parse(readFileSync(schemaPath, 'utf8')), lintSettings());
    expect(findings.filter((f) => f.severity === 'ERROR')).toEqual([]);
  });

  it('checks names: PascalCase types, camelCase fields and arguments, UPPER_CASE enum values', () => {
    expect(lint('"Q" type Query { "x" some_field(Bad_Arg: Int): my_type }\ntype my_type { id: ID }\nenum Colour { red }')).toEqual([
      ['field-names-camel-case', 'ERROR', 'Query.some_field'],
      ['field-names-camel-case', 'ERROR', 'Query.some_field(Bad_Arg:)'],
      ['type-names-pascal-case', 'ERROR', 'my_type'],
      ['enum-values-upper-case', 'ERROR', 'Colour.red'],
    ]);
  });

  it('wants descriptions on public root fields (a warning unless configured), not on @inaccessible ones', () => {
    expect(lint('type Query { a: Int b: Int @inaccessible }')).toEqual([['root-field-descriptions', 'WARNING', 'Query.a']]);
    expect(lint('type Query { a: Int }', [{ rule: 'root-field-descriptions', severity: 'ERROR' }])).toEqual([['root-field-descriptions', 'ERROR', 'Query.a']]);
    expect(lint('type Query { a: Int }', [{ rule: 'root-field-descriptions', severity: 'OFF' }])).toEqual([]);
  });

  it('wants mutations to take `input: <Mutation>Input!` and return `<Mutation>Payload!` with errors', () => {
    const types = 'type UserError { code: String! }\ntype AddThingPayload { ok: Boolean errors: [UserError!]! }\ninput AddThingInput { name: String }';
    expect(lint(`type Mutation { "d" addThing(input: AddThingInput!): AddThingPayload! }\n${types}`)).toEqual([]);
    expect(lint(`type Mutation { "d" addThing(name: String): AddThingPayload! }\n${types}`)).toEqual([['mutation-input', 'ERROR', 'Mutation.addThing']]);
    expect(lint(`type Mutation { "d" addThing(input: AddThingInput!): Boolean }\n${types}`)).toEqual([['mutation-payload', 'ERROR', 'Mutation.addThing']]);
    expect(lint('type Mutation { "d" addThing: AddThingPayload! }\ntype AddThingPayload { ok: Boolean }')).toEqual([['mutation-payload', 'ERROR', 'Mutation.addThing']]);
  });

  it('refuses an unknown rule rather than ignoring it', () => {
    expect(() => lintSettings([{ rule: 'no-such-rule', severity: 'ERROR' }])).toThrow(/Unknown lint rule "no-such-rule"/);
  });
});
