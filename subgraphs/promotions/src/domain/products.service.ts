import type { EventData } from '@shopgraph/events';
import { stage, upsertStage, type EntityManager } from '@shopgraph/kit';

/** A consumer batch's category changes, written in one statement. */
const productCategories = upsertStage<[productId: string, categoryId: string | null]>('product_category', ['product_id', 'category_id']);

/**
 * Promotions' read model of products, kept from catalog's events (never asked of catalog): each
 * product's category. Catalog's events of a product are keyed by it, so they come in order and the
 * last one wins.
 */
export class ProductsService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** `catalog.product.changed` (in a consumer's transaction): the product's category now. */
  productChanged(product: EventData<'catalog.product.changed'>): void {
    stage(this.em, productCategories, [product.productId.toLowerCase(), product.categoryId?.toLowerCase() ?? null]);
  }
}
