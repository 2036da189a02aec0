import { composeServices } from '@apollo/composition';
import { buildASTSchema, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { guardedFieldsOf, requirementsOf } from '@shopgraph/core/authz';

const FEDERATION = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@authenticated", "@requiresScopes"])';
const composed = composeServices([
  {
    name: 'shop',
    url: 'http://shop/graphql',
    typeDefs: parse(`${FEDERATION}
      type Query { products: [Product!]! node(id: ID!): Node me: Account @authenticated }
      type Mutation { setPrice(id: ID!): Product @requiresScopes(scopes: [["staff"], ["admin", "pricing"]]) }
      interface Node { id: ID! }
      type Product implements Node @key(fields: "id") { id: ID! name: String! cost: Int @requiresScopes(scopes: [["staff"]]) }
      type Account implements Node @authenticated { id: ID! email: String! }`),
  },
  {
    name: 'stock',
    url: 'http://stock/graphql',
    typeDefs: parse(`${FEDERATION}
      type Product @key(fields: "id") { id: ID! stock: Int! @authenticated }`),
  },
]);
if (composed.errors) throw composed.errors[0];
const supergraph = parse(composed.supergraphSdl);
const requirements = requirementsOf(supergraph);
// The client-facing schema is enough for TypeInfo; directives are read from the supergraph, not from it.
const schema = buildASTSchema(parse(`
  type Query { products: [Product!]! node(id: ID!): Node me: Account }
  type Mutation { setPrice(id: ID!): Product }
  interface Node { id: ID! }
  type Product implements Node { id: ID! name: String! cost: Int stock: Int! }
  type Account implements Node { id: ID! email: String! }`));

function guarded(source: string, operationName?: string): string[] {
  const document = parse(source);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition' && (!operationName || d.name?.value === operationName))!;
  return guardedFieldsOf(schema, document, operation, requirements).map(([coordinate]) => coordinate).sort();
}

describe('requirementsOf a supergraph', () => {
  it('reads the directives composition keeps in the supergraph, on fields and types, from every subgraph', () => {
    expect(requirements.get('Mutation.setPrice')).toEqual({ authenticated: true, scopes: [['staff'], ['admin', 'pricing']] });
    expect(requirements.get('Product.cost')).toEqual({ authenticated: true, scopes: [['staff']] });
    expect(requirements.get('Product.stock')).toEqual({ authenticated: true, scopes: [] });
    expect(requirements.get('Query.me')).toEqual({ authenticated: true, scopes: [] });
    expect(requirements.get('Account.email')).toEqual({ authenticated: true, scopes: [] });
    expect(requirements.has('Product.name')).toBe(false);
  });

  it('includes interface fields (composition propagates implementations\' requirements onto the interface)', () => {
    expect(requirements.get('Node.id')).toEqual({ authenticated: true, scopes: [] });
  });
});

describe('guardedFieldsOf', () => {
  it('finds nothing in a public operation', () => {
    expect(guarded('{ products { id name __typename } }')).toEqual([]);
  });

  it('finds guarded fields at any depth, aliased, and in fields of other subgraphs', () => {
    expect(guarded('{ products { c: cost stock } }')).toEqual(['Product.cost', 'Product.stock']);
  });

  it('follows named fragments (nested, spread twice) and inline fragments', () => {
    expect(guarded('{ products { ...A ...A } } fragment A on Product { name ...B } fragment B on Product { cost }')).toEqual(['Product.cost']);
    expect(guarded('{ products { ... on Product { stock } } }')).toEqual(['Product.stock']);
  });

  it('ignores fragments the operation does not use, and other operations of the document', () => {
    expect(guarded('query A { products { name } } query B { products { cost } } fragment F on Product { stock }', 'A')).toEqual([]);
    expect(guarded('query A { products { name } } query B { products { cost } }', 'B')).toEqual(['Product.cost']);
  });

  it('treats a field selected on an interface as selected on every implementation', () => {
    expect(guarded('{ node(id: "1") { id } }')).toEqual(['Account.id', 'Node.id']);
    expect(guarded('{ node(id: "1") { ... on Product { name } } }')).toEqual([]);
    expect(guarded('{ node(id: "1") { ... on Account { email } } }')).toEqual(['Account.email']);
  });

  it('finds root mutation fields', () => {
    expect(guarded('mutation { setPrice(id: "1") { name } }')).toEqual(['Mutation.setPrice']);
  });
});
