import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { InventoryService, type StockLevel } from './domain/inventory.service.ts';

export interface InventoryContext extends RequestContext {
  inventory: InventoryService;
  /** Batches the stock lookups of one request (all Product references): one query per batch. */
  stock: DataLoader<string, StockLevel | null>;
}

export function inventoryContext({ identity, em }: RequestInput<unknown>): InventoryContext {
  const inventory = new InventoryService(em);
  return { identity, inventory, stock: batchLoader((ids) => inventory.stockLevels(ids), null) };
}
