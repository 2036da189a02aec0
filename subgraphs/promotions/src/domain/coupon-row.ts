import type { CouponKind } from '../entities/index.ts';
import type { DiscountTerms, UsageTerms } from './coupon-rules.ts';

/** The coupon columns the rules need, as SQL reads them (`select ${COUPON_COLUMNS} from coupon c`). */
export const COUPON_COLUMNS =
  'c.id, c.code, c.description, c.kind, c.percent_off, c.amount_off, c.currency, c.minimum_subtotal, c.category_id, c.product_ids, c.starts_at, c.ends_at, c.usage_limit, c.per_customer_limit, c.active, c.reserved_count, c.redeemed_count';

export interface CouponRow {
  id: string;
  code: string;
  description: string;
  kind: CouponKind;
  percent_off: number | null;
  amount_off: number | null;
  currency: string | null;
  minimum_subtotal: number | null;
  category_id: string | null;
  product_ids: string[];
  /** Timestamps come as Postgres writes them (text). */
  starts_at: string | null;
  ends_at: string | null;
  usage_limit: number | null;
  per_customer_limit: number | null;
  active: boolean;
  reserved_count: number;
  redeemed_count: number;
}

/** What the rules see of a coupon row, with the customer's uses of it. */
export function termsOfRow(row: CouponRow, customerUses: number): DiscountTerms & UsageTerms & { code: string; description: string } {
  return {
    code: row.code,
    description: row.description,
    kind: row.kind,
    percentOff: row.percent_off,
    amountOff: row.amount_off === null ? null : { amount: row.amount_off, currency: row.currency! },
    minimumSubtotal: row.minimum_subtotal === null ? null : { amount: row.minimum_subtotal, currency: row.currency! },
    categoryId: row.category_id,
    productIds: row.product_ids,
    active: row.active,
    startsAt: row.starts_at === null ? null : new Date(row.starts_at),
    endsAt: row.ends_at === null ? null : new Date(row.ends_at),
    usageLimit: row.usage_limit,
    perCustomerLimit: row.per_customer_limit,
    uses: row.reserved_count + row.redeemed_count,
    customerUses,
  };
}
