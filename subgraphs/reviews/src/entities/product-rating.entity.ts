import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * How many visible reviews of a product give each number of stars, changed in the transaction of
 * every review change (an atomic upsert, so concurrent reviews never lose a count): a product's
 * rating is one row, and the ratings of many products one query.
 */
export const ProductRating = defineEntity({
  name: 'ProductRating',
  properties: {
    productId: p.uuid().primary(),
    stars1: p.integer().default(0).check('stars1 >= 0'),
    stars2: p.integer().default(0).check('stars2 >= 0'),
    stars3: p.integer().default(0).check('stars3 >= 0'),
    stars4: p.integer().default(0).check('stars4 >= 0'),
    stars5: p.integer().default(0).check('stars5 >= 0'),
  },
});
export type ProductRating = InferEntity<typeof ProductRating>;
