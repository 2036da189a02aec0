// The classification corpus: schema changes a subgraph team makes, and how the registry classifies
// them. Where @graphql-inspector/core classifies the same change on the client-facing API, its
// level is compared; every difference is listed with the reason in `inspector`.
// Usage-based verdicts (a breaking field removal that is used vs unused) need stored usage: see
// registry/test/registry.int.test.ts ("safe by usage" and "fails a breaking change that routers saw used").
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { ChangeSeverity } from './api-changes.ts';
import { evaluate, type PublishedState, type SubgraphProposal } from './evaluation.ts';
import { lintSettings } from './lint.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@inaccessible", "@requires", "@external", "@tag"])';
const PRODUCTS = `${LINK}
type Query {
  product(id: ID!, locale: String): Product
  products(first: Int = 20, filter: ProductFilter): [Product!]!
  node(id: ID!): Node
}
interface Node { id: ID! }
type Product implements Node @key(fields: "id") @key(fields: "sku") {
  id: ID!
  sku: String!
  name: String!
  description: String
  weight: Int
  status: ProductStatus!
  legacy: Legacy @tag(name: "public")
  topReview: Review
}
type Legacy { code: String }
enum ProductStatus { ACTIVE ARCHIVED }
input ProductFilter { status: ProductStatus, minWeight: Int }
type Review @key(fields: "id", resolvable: false) { id: ID! }
`;
const REVIEWS = `${LINK}
type Product @key(fields: "id") {
  id: ID!
  rating: Float
  shippingEstimate: Int
}
type Review @key(fields: "id") {
  id: ID!
  stars: Int!
}
`;

const published: PublishedState = { latest: null, subgraphs: [{ name: 'products', url: 'http://products/graphql', sdl: PRODUCTS }, { name: 'reviews', url: 'http://reviews/graphql', sdl: REVIEWS }], eventContracts: [] };
const base = await evaluate(published, published.subgraphs.map((s) => ({ name: s.name, delete: false, sdl: s.sdl, document: parse(s.sdl), url: s.url })), lintSettings(), null);
if (!base.composition.ok) throw new Error(`the corpus graph does not compose: ${base.composition.errors.map((e) => e.message).join('; ')}`);
const state: PublishedState = { ...published, latest: { version: 1, supergraphSdl: base.composition.supergraphSdl! } };

type Expected = [kind: string, severity: ChangeSeverity, coordinate: string];
interface Case {
  name: string;
  products?: (sdl: string) => string;
  reviews?: ((sdl: string) => string) | 'delete';
  expected: Expected[];
  /** inspector's level where it differs from ours, by coordinate, with why. */
  inspector?: Record<string, ChangeSeverity>;
}

const corpus: Case[] = [
  { name: 'field removed', products: (s) => s.replace('  description: String\n', ''), expected: [['FIELD_REMOVED', 'BREAKING', 'Product.description']] },
  { name: 'field type changed', products: (s) => s.replace('weight: Int', 'weight: Float'), expected: [['FIELD_TYPE_CHANGED', 'BREAKING', 'Product.weight']] },
  { name: 'output nullability tightened', products: (s) => s.replace('description: String', 'description: String!'), expected: [['FIELD_TYPE_CHANGED', 'SAFE', 'Product.description']] },
  { name: 'output nullability loosened', products: (s) => s.replace('name: String!', 'name: String'), expected: [['FIELD_TYPE_CHANGED', 'BREAKING', 'Product.name']] },
  { name: 'argument nullability tightened', products: (s) => s.replace('locale: String)', 'locale: String!)'), expected: [['FIELD_ARGUMENT_TYPE_CHANGED', 'BREAKING', 'Query.product(locale:)']] },
  { name: 'argument nullability loosened', products: (s) => s.replace('product(id: ID!', 'product(id: ID'), expected: [['FIELD_ARGUMENT_TYPE_CHANGED', 'SAFE', 'Query.product(id:)']] },
  { name: 'input field nullability tightened', products: (s) => s.replace('minWeight: Int', 'minWeight: Int!'), expected: [['INPUT_FIELD_TYPE_CHANGED', 'BREAKING', 'ProductFilter.minWeight']] },
  { name: 'required argument added', products: (s) => s.replace('node(id: ID!)', 'node(id: ID!, kind: String!)'), expected: [['FIELD_ARGUMENT_ADDED', 'BREAKING', 'Query.node(kind:)']] },
  {
    name: 'optional argument added',
    products: (s) => s.replace('node(id: ID!)', 'node(id: ID!, kind: String)'),
    expected: [['FIELD_ARGUMENT_ADDED', 'SAFE', 'Query.node(kind:)']],
    // inspector: DANGEROUS (a default could change the field's behaviour). Operations written
    // before the argument existed never pass it, and the field served them without it: safe.
    inspector: { 'Query.node(kind:)': 'DANGEROUS' },
  },
  { name: 'enum value added', products: (s) => s.replace('ACTIVE ARCHIVED', 'ACTIVE ARCHIVED DRAFT'), expected: [['ENUM_VALUE_ADDED', 'DANGEROUS', 'ProductStatus.DRAFT']] },
  { name: 'enum value removed', products: (s) => s.replace('ACTIVE ARCHIVED', 'ACTIVE'), expected: [['ENUM_VALUE_REMOVED', 'BREAKING', 'ProductStatus.ARCHIVED']] },
  { name: 'default value changed', products: (s) => s.replace('first: Int = 20', 'first: Int = 50'), expected: [['FIELD_ARGUMENT_DEFAULT_CHANGED', 'DANGEROUS', 'Query.products(first:)']] },
  {
    name: '@key changed',
    products: (s) => s.replace('@key(fields: "id") @key(fields: "sku")', '@key(fields: "sku")').replace('  id: ID!\n  sku', '  id: ID! @shareable\n  sku'),
    // The API is unchanged (inspector sees nothing); reviews still resolves Product by id, which
    // products no longer accepts.
    expected: [['KEY_REMOVED', 'BREAKING', 'Product']],
  },
  { name: 'key no other subgraph uses removed', products: (s) => s.replace(' @key(fields: "sku")', ''), expected: [['KEY_REMOVED', 'DANGEROUS', 'Product']] },
  { name: 'type removed', products: (s) => s.replace('  legacy: Legacy @tag(name: "public")\n', '').replace('type Legacy { code: String }\n', ''), expected: [['FIELD_REMOVED', 'BREAKING', 'Product.legacy'], ['TYPE_REMOVED', 'BREAKING', 'Legacy']] },
  { name: 'interface implementation removed', products: (s) => s.replace('type Product implements Node', 'type Product'), expected: [['OBJECT_TYPE_INTERFACE_REMOVED', 'BREAKING', 'Product']] },
  { name: 'deprecation added', products: (s) => s.replace('weight: Int', 'weight: Int @deprecated(reason: "use shippingEstimate")'), expected: [['FIELD_DEPRECATION_ADDED', 'SAFE', 'Product.weight']] },
  {
    name: '@inaccessible added',
    products: (s) => s.replace('description: String', 'description: String @inaccessible'),
    // inspector: FIELD_REMOVED, BREAKING too; we say why it left the API (and who hid it).
    expected: [['INACCESSIBLE_ADDED', 'BREAKING', 'Product.description']],
  },
  {
    name: 'entity removed from a subgraph that others use',
    reviews: 'delete',
    // products still returns Review (Product.topReview) but only reviews resolved it.
    expected: [['ENTITY_REMOVED_FROM_SUBGRAPH', 'BREAKING', 'Review'], ['FIELD_REMOVED', 'BREAKING', 'Product.rating'], ['FIELD_REMOVED', 'BREAKING', 'Product.shippingEstimate'], ['FIELD_REMOVED', 'BREAKING', 'Review.stars']],
  },
  {
    name: '@requires added',
    reviews: (s) => s.replace('  shippingEstimate: Int\n', '  weight: Int @external\n  shippingEstimate: Int @requires(fields: "weight")\n'),
    expected: [['REQUIRES_ADDED', 'DANGEROUS', 'Product.shippingEstimate']],
  },
  { name: '@tag removed', products: (s) => s.replace(' @tag(name: "public")', ''), expected: [['TAG_REMOVED', 'DANGEROUS', 'Product.legacy']] },
];

describe('classification corpus', () => {
  it.each(corpus)('$name', async ({ products, reviews, expected, inspector = {} }) => {
    const proposals: SubgraphProposal[] = [];
    if (products) {
      const sdl = products(PRODUCTS);
      expect(sdl, 'the case changes the SDL').not.toBe(PRODUCTS);
      proposals.push({ name: 'products', delete: false, sdl, document: parse(sdl), url: 'http://products/graphql' });
    }
    if (reviews === 'delete') proposals.push({ name: 'reviews', delete: true });
    else if (reviews) proposals.push({ name: 'reviews', delete: false, sdl: reviews(REVIEWS), document: parse(reviews(REVIEWS)), url: 'http://reviews/graphql' });

    const result = await evaluate(state, proposals, lintSettings(), null);
    expect(result.composition.errors).toEqual([]);
    const found = result.changes.map((c): Expected => [c.kind, c.severity, c.coordinate]);
    expect(found.sort()).toEqual(expected.toSorted());
    for (const change of result.changes) expect(change.message).toMatch(/^[A-Z'].+\.$/);

    // inspector's verdict on the same API change, where it sees one.
    const theirs = new Map((await diff(result.before!, result.after!)).map((c) => [coordinate(c.path ?? '', String(c.type)), LEVEL[c.criticality.level]]));
    for (const change of result.changes) {
      if (!theirs.has(change.coordinate)) continue;
      expect(theirs.get(change.coordinate), `inspector on ${change.coordinate}`).toBe(inspector[change.coordinate] ?? change.severity);
    }
  });
});

const LEVEL: Record<CriticalityLevel, ChangeSeverity> = { [CriticalityLevel.Breaking]: 'BREAKING', [CriticalityLevel.Dangerous]: 'DANGEROUS', [CriticalityLevel.NonBreaking]: 'SAFE' };
const coordinate = (path: string, type: string) => {
  const [owner, field, argument] = path.split('.').filter((s) => !s.startsWith('@'));
  return type.startsWith('FIELD_ARGUMENT_') ? `${owner}.${field}(${argument}:)` : [owner, field].filter(Boolean).join('.');
};
