import { ErrorCode, graphqlError, payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { encodeCursor, type ProductChanges } from '../domain/catalog.service.ts';
import type { Product } from '../entities/product.entity.ts';
import type { CatalogContext } from '../context.ts';

interface Money {
  amount: number;
  currency: string;
}
/** A page of the listing; `totalCount` is resolved from `categoryId` when selected. */
interface ProductConnection {
  edges: { cursor: string; node: Product }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  categoryId: string | null;
}
interface LineRef {
  id: string;
  product: { id: string };
  quantity: number;
}

const priceOf = (product: Pick<Product, 'priceAmount' | 'priceCurrency'>): Money => ({ amount: product.priceAmount, currency: product.priceCurrency });

async function unitPrice(line: LineRef, context: CatalogContext): Promise<Money> {
  const product = await context.products.load(line.product.id);
  if (!product) throw graphqlError(ErrorCode.NOT_FOUND, `Product ${line.product.id} no longer exists`);
  return priceOf(product);
}

export const resolvers: GraphQLResolverMap<CatalogContext> = {
  Query: {
    product: (_: unknown, { id }: { id: string }, { products }: CatalogContext) => products.load(id),
    products: async (_: unknown, args: { first: number; after?: string | null; categoryId?: string | null }, { catalog }: CatalogContext): Promise<ProductConnection> => {
      const page = await catalog.listProducts(args.first, args.after, args.categoryId);
      const edges = page.products.map((node) => ({ cursor: encodeCursor(node), node }));
      return { edges, categoryId: args.categoryId ?? null, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
    categories: (_: unknown, __: unknown, { catalog }: CatalogContext) => catalog.categories(),
  },
  Mutation: {
    createCategory: (_: unknown, { input }: { input: { name: string; slug: string } }, { catalog }: CatalogContext) =>
      payload(async () => ({ category: await catalog.createCategory(input) })),
    createProduct: (_: unknown, { input }: { input: Parameters<CatalogContext['catalog']['createProduct']>[0] }, { catalog }: CatalogContext) =>
      payload(async () => ({ product: await catalog.createProduct(input) })),
    updateProduct: (_: unknown, { input }: { input: ProductChanges }, { catalog }: CatalogContext) => payload(async () => ({ product: await catalog.updateProduct(input) })),
    updateProducts: (_: unknown, { input }: { input: { products: ProductChanges[] } }, { catalog }: CatalogContext) =>
      payload(async () => ({ products: await catalog.updateProducts(input.products) })),
  },
  ProductConnection: {
    // A count over every product of the listing: only for clients that select it (a reindex walking pages does not).
    totalCount: ({ categoryId }: ProductConnection, _: unknown, { catalog }: CatalogContext) => catalog.countProducts(categoryId),
  },
  Product: {
    __resolveReference: ({ id }: { id: string }, { products }: CatalogContext) => products.load(id),
    price: priceOf,
  },
  Category: {
    __resolveReference: ({ id }: { id: string }, { categories }: CatalogContext) => categories.load(id),
  },
  CartLine: {
    __resolveReference: (line: LineRef) => line,
    unitPrice: (line: LineRef, _: unknown, context: CatalogContext) => unitPrice(line, context),
    lineTotal: async (line: LineRef, _: unknown, context: CatalogContext) => {
      const price = await unitPrice(line, context);
      return { amount: price.amount * line.quantity, currency: price.currency };
    },
  },
  Cart: {
    __resolveReference: (cart: { id: string; lines: LineRef[] }) => cart,
    subtotal: async (cart: { lines: LineRef[] }, _: unknown, context: CatalogContext) => {
      const prices = await Promise.all(cart.lines.map((line) => unitPrice(line, context)));
      const amount = prices.reduce((sum, price, i) => sum + price.amount * cart.lines[i]!.quantity, 0);
      return { amount, currency: prices[0]?.currency ?? context.currency };
    },
  },
};
