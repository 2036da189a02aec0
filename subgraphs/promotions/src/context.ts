import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import type { AppliedTerms } from './domain/coupon-rules.ts';
import { CouponsService } from './domain/coupons.service.ts';
import type { PromotionsMetrics } from './domain/promotions-metrics.ts';
import { RedemptionsService } from './domain/redemptions.service.ts';

export interface PromotionsContext extends RequestContext {
  coupons: CouponsService;
  redemptions: RedemptionsService;
  metrics: PromotionsMetrics;
  /** Batches the applied-coupon lookups of one request (every Cart of an `_entities` call): one query per batch. */
  appliedCoupons: DataLoader<string, AppliedTerms | null>;
  /** Batches the category lookups of the carts' products: one query per batch. */
  categories: DataLoader<string, string | null>;
}

export const promotionsContext =
  (metrics: PromotionsMetrics) =>
  ({ identity, em }: RequestInput<unknown>): PromotionsContext => {
    const coupons = new CouponsService(em);
    return {
      identity,
      coupons,
      redemptions: new RedemptionsService(em),
      metrics,
      appliedCoupons: batchLoader((ids) => coupons.appliedCoupons(ids), null),
      categories: batchLoader((ids) => coupons.categories(ids), null),
    };
  };
