import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** Promotions' read model of products' categories (from `catalog.product.changed`), for category-restricted coupons. */
export const ProductCategory = defineEntity({
  name: 'ProductCategory',
  properties: {
    productId: p.uuid().primary(),
    categoryId: p.uuid().nullable(),
  },
});
export type ProductCategory = InferEntity<typeof ProductCategory>;
