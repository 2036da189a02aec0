import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** The coupon a customer applied to their cart: one per customer, until removed or reserved by an order. */
export const AppliedCoupon = defineEntity({
  name: 'AppliedCoupon',
  properties: {
    userId: p.uuid().primary(),
    couponId: p.uuid().index(),
    appliedAt: p.datetime(),
  },
});
export type AppliedCoupon = InferEntity<typeof AppliedCoupon>;
