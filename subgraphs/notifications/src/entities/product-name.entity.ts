import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** Read model of catalog's products (from `catalog.product.changed`): what order lines and stock alerts call them. */
export const ProductName = defineEntity({
  name: 'ProductName',
  properties: {
    productId: p.uuid().primary(),
    sku: p.string(),
    name: p.text(),
  },
});
export type ProductName = InferEntity<typeof ProductName>;
