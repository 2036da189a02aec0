import { payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { availableOf, type StockLevel } from '../domain/inventory.service.ts';
import type { InventoryContext } from '../context.ts';

/** Inventory's part of catalog's Product: its id and what can be sold now. */
interface Product {
  id: string;
  availableQuantity: number;
}

const productOf = (id: string, level: StockLevel | null): Product => ({ id, availableQuantity: availableOf(level) });

export const resolvers: GraphQLResolverMap<InventoryContext> = {
  Mutation: {
    setStock: (_: unknown, { input }: { input: { productId: string; quantity: number } }, { inventory }: InventoryContext) =>
      payload(async () => {
        const level = await inventory.setStock(input);
        return { product: productOf(level.productId, level) };
      }),
    adjustStock: (_: unknown, { input }: { input: { productId: string; delta: number } }, { inventory }: InventoryContext) =>
      payload(async () => {
        const level = await inventory.adjustStock(input);
        return { product: productOf(level.productId, level) };
      }),
    setLowStockThreshold: (_: unknown, { input }: { input: { productId: string; threshold: number } }, { inventory, stock }: InventoryContext) =>
      payload(async () => {
        const { productId, threshold } = await inventory.setLowStockThreshold(input);
        return { product: productOf(productId, await stock.load(productId)), threshold };
      }),
  },
  Product: {
    // Any id resolves: one inventory has never stocked (or a malformed one) has nothing available.
    __resolveReference: async ({ id }: { id: string }, { stock }: InventoryContext) => productOf(id, await stock.load(id)),
    inStock: (product: Product) => product.availableQuantity > 0,
  },
};
