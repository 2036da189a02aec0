// A small two-subgraph graph the registry tests publish and change.
export const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@inaccessible", "@requires", "@external", "@tag"])';

export const products = (fields = 'name: String!\n  legacyCode: String\n  price: Int!') => `${LINK}
type Query {
  "A product by id; null when there is none."
  product(id: ID!): Product
  "Products, newest first."
  products(first: Int = 20): [Product!]!
}
type Product @key(fields: "id") {
  id: ID!
  ${fields}
}
`;

export const reviews = (fields = 'rating: Float') => `${LINK}
type Product @key(fields: "id") {
  id: ID!
  ${fields}
}
`;

export const subgraphs = (overrides: { products?: string; reviews?: string } = {}) => [
  { name: 'products', sdl: overrides.products ?? products(), url: 'http://products:4001/graphql' },
  { name: 'reviews', sdl: overrides.reviews ?? reviews(), url: 'http://reviews:4002/graphql' },
];

/** An Apollo persisted-query manifest of the given operation bodies. */
export function manifest(bodies: string[]): string {
  const { createHash } = globalThis.process.getBuiltinModule('node:crypto');
  return JSON.stringify({
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: bodies.map((body) => ({ id: createHash('sha256').update(body).digest('hex'), name: /(?:query|mutation|subscription)\s+(\w+)/.exec(body)?.[1] ?? null, type: 'query', body })),
  });
}

export const contract = (properties: Record<string, unknown>, required: string[], dataVersion = 1) => ({
  type: 'catalog.product.changed',
  topic: 'catalog.product.v1',
  dataVersion,
  schema: JSON.stringify({ type: 'object', properties, required, additionalProperties: false }),
});
