import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const ReservationStatus = { RESERVED: 'RESERVED', COMMITTED: 'COMMITTED', RELEASED: 'RELEASED' } as const;
export type ReservationStatus = (typeof ReservationStatus)[keyof typeof ReservationStatus];

/**
 * Units of one product held for one order by the checkout saga. RESERVED units count in
 * `stock_item.reserved`; COMMITTED ones (the order was paid) have left `on_hand` too; RELEASED
 * ones were given back (payment failed, order cancelled). Only moves forward:
 * RESERVED → COMMITTED | RELEASED, COMMITTED → RELEASED (cancelled before shipping: restocked).
 */
export const Reservation = defineEntity({
  name: 'Reservation',
  properties: {
    /** Orders' order id; inventory does not own orders, so there is no foreign key. */
    orderId: p.uuid().primary(),
    productId: p.uuid().primary(),
    quantity: p.integer().check('quantity > 0'),
    status: p.enum(Object.values(ReservationStatus)),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()').onUpdate(() => new Date()),
  },
});
export type Reservation = InferEntity<typeof Reservation>;
