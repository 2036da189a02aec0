import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { Category } from './category.entity.ts';

export const Product = defineEntity({
  name: 'Product',
  properties: {
    id: p.uuid().primary(),
    sku: p.string().unique(),
    name: p.string(),
    description: p.text().default(''),
    priceAmount: p.integer().check('price_amount >= 0'),
    priceCurrency: p.string().length(3),
    category: () => p.manyToOne(Category).nullable().index(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  // The listing's keyset order.
  indexes: [{ properties: ['name', 'id'] }],
});
export type Product = InferEntity<typeof Product>;
