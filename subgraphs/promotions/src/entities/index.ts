import { messagingEntities } from '@shopgraph/kit';
import { AppliedCoupon } from './applied-coupon.entity.ts';
import { Coupon } from './coupon.entity.ts';
import { ProductCategory } from './product-category.entity.ts';
import { Redemption } from './redemption.entity.ts';

export { AppliedCoupon, Coupon, ProductCategory, Redemption };
export { COUPON_KINDS, type CouponKind } from './coupon.entity.ts';
export { REDEMPTION_STATUSES, type RedemptionStatus } from './redemption.entity.ts';
/** Promotions' own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const domainEntities = [Coupon, Redemption, AppliedCoupon, ProductCategory];
export const entities = [...domainEntities, ...messagingEntities];
