import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { defaultLimits, operationGuards } from './limits.ts';

const schema = buildSchema('type Query { a: A } type A { a: A b: Int }');
const { parseOptions, validationRules } = operationGuards(defaultLimits);

describe('operationGuards', () => {
  it('reports limits as validation errors (a 400), next to the other rules\' errors, instead of throwing', () => {
    const deep = parse(`{ ${'a { '.repeat(50)}b${' }'.repeat(50)} }`);
    const errors = validate(schema, deep, [...specifiedRules, ...validationRules]);
    expect(errors.map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/depth limit of 12 exceeded, found 51/), expect.stringMatching(/Cost limit/)]));
  });

  it('counts aliases', () => {
    const aliased = parse(`{ ${Array.from({ length: 31 }, (_, i) => `x${i}: a { b }`).join(' ')} }`);
    expect(validate(schema, aliased, validationRules).map((e) => e.message)).toEqual([expect.stringMatching(/Aliases limit of 30 exceeded/)]);
  });

  it('passes an operation within the limits', () => {
    expect(validate(schema, parse('{ a { a { b } } }'), validationRules)).toEqual([]);
  });

  it('stops parsing at the token limit, before building a huge document', () => {
    expect(() => parse(`{ a { ${'b '.repeat(5_000)} } }`, parseOptions)).toThrow(/Document contains more th[ae][nt] 2000 tokens/);
  });
});
