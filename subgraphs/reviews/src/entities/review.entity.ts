import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * A customer's review of a product: one per customer and product (the unique key). A hidden
 * review (hidden_at set, by staff) counts in no rating and is listed only to its author and staff.
 */
export const Review = defineEntity({
  name: 'Review',
  properties: {
    id: p.uuid().primary(),
    productId: p.uuid(),
    authorId: p.uuid(),
    rating: p.integer().check('rating >= 1 and rating <= 5'),
    title: p.text(),
    body: p.text(),
    verifiedPurchase: p.boolean(),
    hiddenReason: p.text().nullable(),
    hiddenAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  uniques: [{ properties: ['authorId', 'productId'] }],
  indexes: [{ properties: ['productId', 'createdAt', 'id'] }, { properties: ['authorId', 'createdAt', 'id'] }],
});
export type Review = InferEntity<typeof Review>;
