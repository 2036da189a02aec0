import type { EventHandlers } from '@shopgraph/kit';
import { ProductsService } from '../domain/products.service.ts';

/**
 * Promotions' read model of products' categories (consumer group `promotions.catalog`), for
 * category-restricted coupons; apart from the saga, so a burst of catalog changes never holds up a
 * checkout's coupon.
 */
export const catalogHandlers: EventHandlers = {
  'catalog.product.changed': async (event, em) => {
    new ProductsService(em).productChanged(event.data);
  },
};
