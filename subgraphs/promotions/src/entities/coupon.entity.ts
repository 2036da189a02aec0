import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const COUPON_KINDS = ['PERCENTAGE', 'FIXED_AMOUNT'] as const;
export type CouponKind = (typeof COUPON_KINDS)[number];

/**
 * A coupon staff created. The code is stored upper-case (customers type it in any case), unique.
 * `reservedCount` and `redeemedCount` are the uses held by orders in flight and by confirmed
 * orders; they move only under the row's lock (reserveCoupon) or in one atomic update (the saga),
 * so the usage limit holds however many checkouts race for the last use.
 */
export const Coupon = defineEntity({
  name: 'Coupon',
  properties: {
    id: p.uuid().primary(),
    code: p.string().unique().check(`code ~ '^[A-Z0-9_-]{3,32}$'`),
    description: p.text(),
    kind: p.enum(COUPON_KINDS),
    percentOff: p.integer().nullable(),
    /** FIXED_AMOUNT: the amount off, in minor units of `currency`. */
    amountOff: p.integer().nullable(),
    /** FIXED_AMOUNT: the currency of amountOff and minimumSubtotal; PERCENTAGE: minimumSubtotal's, if any. */
    currency: p.string().length(3).nullable(),
    minimumSubtotal: p.integer().nullable(),
    categoryId: p.uuid().nullable(),
    /** Empty: no product restriction. */
    productIds: p.array(),
    startsAt: p.datetime().nullable(),
    endsAt: p.datetime().nullable(),
    usageLimit: p.integer().nullable(),
    perCustomerLimit: p.integer().nullable(),
    active: p.boolean(),
    reservedCount: p.integer().default(0).check('reserved_count >= 0'),
    redeemedCount: p.integer().default(0).check('redeemed_count >= 0'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  indexes: [{ properties: ['createdAt', 'id'] }],
});
export type Coupon = InferEntity<typeof Coupon>;
