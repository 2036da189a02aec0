import type { EventData } from '@shopgraph/events';
import type { EntityManager } from '@shopgraph/kit';

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

  /** `catalog.product.changed`: the product's category now. */
  async productChanged(product: EventData<'catalog.product.changed'>): Promise<void> {
    await this.em.execute(
      'insert into product_category (product_id, category_id) values (?, ?) on conflict (product_id) do update set category_id = excluded.category_id',
      [product.productId.toLowerCase(), product.categoryId?.toLowerCase() ?? null],
    );
  }
}
