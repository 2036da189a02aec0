import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { Order } from './order.entity.ts';

/** One product of an order, priced as it was when the order was placed. */
export const OrderLine = defineEntity({
  name: 'OrderLine',
  properties: {
    order: () => p.manyToOne(Order).primary().deleteRule('cascade'),
    /** Catalog's product id; orders does not own products, so there is no foreign key. */
    productId: p.uuid().primary(),
    /** Where the line was in the cart (0, 1, 2…), so lines list in the customer's order. */
    position: p.integer(),
    quantity: p.integer().check('quantity > 0'),
    unitPriceAmount: p.integer().check('unit_price_amount >= 0'),
    unitPriceCurrency: p.string().length(3),
  },
});
export type OrderLine = InferEntity<typeof OrderLine>;
