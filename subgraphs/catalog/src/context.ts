import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { CatalogService } from './domain/catalog.service.ts';
import type { Product } from './entities/index.ts';

export interface CatalogContext extends RequestContext {
  catalog: CatalogService;
  currency: string;
  /** Batches the product lookups of one request (entity references, cart pricing). */
  products: DataLoader<string, Product | null>;
}

export const catalogContext =
  (currency: string) =>
  ({ identity, em }: RequestInput<unknown>): CatalogContext => {
    const catalog = new CatalogService(em, currency);
    const products = batchLoader(async (ids) => new Map((await catalog.findProducts(ids)).map((product) => [product.id, product])), null);
    return { identity, catalog, currency, products };
  };
