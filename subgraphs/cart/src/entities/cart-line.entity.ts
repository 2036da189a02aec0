import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { Cart } from './cart.entity.ts';

/** A product in a cart: at most one line per product, listed in the order first added. */
export const CartLine = defineEntity({
  name: 'CartLine',
  properties: {
    cart: () => p.manyToOne(Cart).primary().deleteRule('cascade'),
    productId: p.uuid().primary(),
    quantity: p.integer().check('quantity > 0'),
    addedAt: p.datetime(),
  },
});
export type CartLine = InferEntity<typeof CartLine>;
