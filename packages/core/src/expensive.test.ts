import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { EXPENSIVE_DIRECTIVE_SDL, expensiveFieldRule, expensiveFieldsOf } from './expensive.ts';

const schema = buildSchema(`
  ${EXPENSIVE_DIRECTIVE_SDL}
  type Query { me: User }
  type Mutation {
    login(email: String!): Session! @expensive
    register(email: String!): Session! @expensive
    logout: Boolean
  }
  type Session { token: String user: User }
  type User { id: ID! }
`);

const codesOf = (query: string) => validate(schema, parse(query), [expensiveFieldRule()]).map((error) => error.extensions['code']);

describe('expensiveFieldRule', () => {
  it('finds the fields marked @expensive', () => {
    expect([...expensiveFieldsOf(schema)].sort()).toEqual(['Mutation.login', 'Mutation.register']);
  });

  it('lets an operation select one expensive field, and other fields beside it', () => {
    expect(codesOf('mutation { login(email: "a") { token } logout }')).toEqual([]);
    expect(codesOf('mutation A { login(email: "a") { token } } mutation B { register(email: "b") { token } }')).toEqual([]);
    expect(codesOf('{ me { id } }')).toEqual([]);
  });

  it.each([
    ['aliases', 'mutation { a: login(email: "a") { token } b: login(email: "b") { token } }'],
    ['two different expensive fields', 'mutation { login(email: "a") { token } register(email: "b") { token } }'],
    ['a fragment spread twice', 'mutation { ...L ...L } fragment L on Mutation { login(email: "a") { token } }'],
    ['a fragment beside the field', 'mutation { login(email: "a") { token } ...L } fragment L on Mutation { x: login(email: "b") { token } }'],
    ['inline fragments', 'mutation { ... on Mutation { login(email: "a") { token } } ... { login(email: "b") { user { id } } } }'],
    ['nested fragments', 'mutation { ...Outer } fragment Outer on Mutation { ...Inner x: login(email: "b") { token } } fragment Inner on Mutation { login(email: "a") { token } }'],
  ])('refuses the same work twice through %s', (_, query) => {
    expect(codesOf(query)).toEqual(['EXPENSIVE_FIELD_REPEATED']);
  });

  it('does not loop on a fragment cycle (another rule reports it)', () => {
    expect(codesOf('mutation { ...A } fragment A on Mutation { ...B } fragment B on Mutation { ...A login(email: "a") { token } }')).toEqual([]);
  });
});
