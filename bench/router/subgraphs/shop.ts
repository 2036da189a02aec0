// Our own supergraph, from the real subgraph schemas (subgraphs/*/schema.graphql, the list in
// supergraph.yaml), with small in-memory resolvers for what the e-commerce workloads read:
// catalog (products, categories, cart-line and cart pricing through @requires), inventory
// (availability) and cart (the caller's cart). The other subgraphs are composed in, so the
// router plans against the real supergraph, but the workloads never call them.
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { CannedSubgraph } from './types.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

interface Money {
  amount: number;
  currency: string;
}
interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  price: Money;
  categoryId: string;
}
interface LineRef {
  id: string;
  product: { id: string };
  quantity: number;
}

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const categories = [
  { id: uuid(101), name: 'Furniture', slug: 'furniture' },
  { id: uuid(102), name: 'Kitchen', slug: 'kitchen' },
  { id: uuid(103), name: 'Outdoor', slug: 'outdoor' },
];
const productNames = ['Oak desk', 'Walnut bookshelf', 'Stoneware mug', 'Bar stool', 'Espresso machine', 'Cast-iron pan', 'Garden bench', 'Parasol'];
const products: Product[] = productNames.map((name, i) => ({
  id: uuid(i + 1),
  sku: `SKU-${String(i + 1).padStart(5, '0')}`,
  name,
  description: `${name}: made to last, with a two-year warranty. Ships in recyclable packaging; free returns within 30 days. Care: wipe with a damp cloth.`,
  price: { amount: 1_999 + i * 2_350, currency: 'EUR' },
  categoryId: categories[i % categories.length]!.id,
}));
const productById = new Map(products.map((p) => [p.id, p]));
const categoryById = new Map(categories.map((c) => [c.id, c]));

/** The product the product-page and one-field workloads ask for. */
export const SHOP_PRODUCT_ID = products[4]!.id;

const cart = {
  id: uuid(900),
  lines: [1, 3, 4, 6].map((n, i): LineRef => ({ id: uuid(910 + i), product: { id: uuid(n) }, quantity: 1 + (i % 3) })),
};

const unitPrice = (line: LineRef): Money => productById.get(line.product.id)!.price;
const stock = (id: string) => {
  const n = Number(id.slice(-4));
  const availableQuantity = n % 4 === 0 ? 0 : 10 * n + 3;
  return { id, availableQuantity, inStock: availableQuantity > 0 };
};

const resolvers: Record<string, CannedSubgraph['resolvers']> = {
  catalog: {
    Query: {
      product: (_: unknown, { id }: { id: string }) => productById.get(id) ?? null,
      products: (_: unknown, { first }: { first: number }) => {
        const edges = products.slice(0, first).map((node) => ({ cursor: node.id, node }));
        return { edges, totalCount: products.length, pageInfo: { hasNextPage: first < products.length, endCursor: edges.at(-1)?.cursor ?? null } };
      },
      categories: () => categories,
    },
    Product: {
      __resolveReference: ({ id }: { id: string }) => productById.get(id) ?? null,
      category: (product: Product) => categoryById.get(product.categoryId) ?? null,
    },
    Category: { __resolveReference: ({ id }: { id: string }) => categoryById.get(id) ?? null },
    CartLine: {
      __resolveReference: (line: LineRef) => line,
      unitPrice,
      lineTotal: (line: LineRef) => ({ amount: unitPrice(line).amount * line.quantity, currency: unitPrice(line).currency }),
    },
    Cart: {
      __resolveReference: (ref: { id: string; lines: LineRef[] }) => ref,
      subtotal: (ref: { lines: LineRef[] }) => ({ amount: ref.lines.reduce((sum, line) => sum + unitPrice(line).amount * line.quantity, 0), currency: 'EUR' }),
    },
  },
  inventory: {
    Product: { __resolveReference: ({ id }: { id: string }) => stock(id) },
  },
  cart: {
    Query: { cart: () => cart },
    Cart: { __resolveReference: ({ id }: { id: string }) => (id === cart.id ? cart : null) },
    User: { __resolveReference: () => ({ cart }) },
  },
};

/** Every subgraph of supergraph.yaml, from its schema file; resolvers only where the workloads read. */
export function shopSubgraphs(): CannedSubgraph[] {
  const config = parseYaml(readFileSync(join(root, 'supergraph.yaml'), 'utf8')) as { subgraphs: Record<string, { schema: { file: string } }> };
  return Object.entries(config.subgraphs).map(([name, entry]) => ({
    name,
    typeDefs: parse(readFileSync(join(root, entry.schema.file), 'utf8')),
    resolvers: resolvers[name] ?? {},
  }));
}
