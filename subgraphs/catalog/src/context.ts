import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { CatalogService, type ProductView } from './domain/catalog.service.ts';
import type { Category } from './entities/index.ts';

export interface CatalogContext extends RequestContext {
  catalog: CatalogService;
  currency: string;
  /** Batches the product lookups of one request (entity references, cart pricing). */
  products: DataLoader<string, ProductView | null>;
  /** Batches the category references of one request (every product of a page names one). */
  categories: DataLoader<string, Category | null>;
}

export const catalogContext =
  (currency: string) =>
  ({ identity, em }: RequestInput<unknown>): CatalogContext => {
    const catalog = new CatalogService(em, currency);
    const products = batchLoader(async (ids) => new Map((await catalog.findProducts(ids)).map((product) => [product.id, product])), null);
    const categories = batchLoader(async (ids) => new Map((await catalog.findCategories(ids)).map((category) => [category.id, category])), null);
    return { identity, catalog, currency, products, categories };
  };
