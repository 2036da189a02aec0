import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * RESERVED by placeOrder (reserveCoupon), PLACED once the order's placement is seen, COMMITTED once
 * it is confirmed, RELEASED when it failed, was cancelled or never placed. RESERVED, PLACED and
 * COMMITTED count against the coupon's limits; RELEASED is final.
 */
export const REDEMPTION_STATUSES = ['RESERVED', 'PLACED', 'COMMITTED', 'RELEASED'] as const;
export type RedemptionStatus = (typeof REDEMPTION_STATUSES)[number];

/**
 * One use of a coupon by an order. Its id is the order's, so a repeated reservation for the same
 * order meets the primary key and answers the use already held.
 */
export const Redemption = defineEntity({
  name: 'Redemption',
  properties: {
    id: p.uuid().primary(),
    couponId: p.uuid(),
    userId: p.uuid(),
    code: p.string(),
    discountAmount: p.integer().check('discount_amount >= 0'),
    discountCurrency: p.string().length(3),
    status: p.enum(REDEMPTION_STATUSES),
    /** Why it was released. */
    reason: p.string().nullable(),
    reservedAt: p.datetime(),
    updatedAt: p.datetime(),
  },
  indexes: [
    // The per-customer limit: a customer's uses of a coupon.
    { properties: ['couponId', 'userId'] },
    // The sweeper's query: reservations never placed, oldest first.
    { name: 'redemption_unplaced_index', properties: ['reservedAt'], where: `status = 'RESERVED'` },
  ],
});
export type Redemption = InferEntity<typeof Redemption>;
