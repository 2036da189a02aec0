import { Migration } from '@mikro-orm/migrations';

const STATUSES = `('PENDING', 'STOCK_RESERVED', 'UNDER_REVIEW', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED')`;

/** Fraud review's statuses, and the coupon an order was placed with. */
export class ReviewAndCoupons extends Migration {
  override up(): void {
    this.addSql(`alter table "customer_order" drop constraint "customer_order_status_check";`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_status_check" check ("status" in ${STATUSES});`);
    this.addSql(`alter table "order_status_change" drop constraint "order_status_change_status_check";`);
    this.addSql(`alter table "order_status_change" add constraint "order_status_change_status_check" check ("status" in ${STATUSES});`);
    this.addSql(`alter table "customer_order" add column "coupon_code" varchar(32) null, add column "discount_amount" int null;`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_discount_amount_check" check (discount_amount > 0);`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_coupon_check" check ((coupon_code is null) = (discount_amount is null));`);
  }
}
