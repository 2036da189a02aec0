import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "coupon" ("id" uuid not null, "code" varchar(255) not null, "description" text not null, "kind" text not null, "percent_off" int null, "amount_off" int null, "currency" varchar(3) null, "minimum_subtotal" int null, "category_id" uuid null, "product_ids" text[] not null, "starts_at" timestamptz null, "ends_at" timestamptz null, "usage_limit" int null, "per_customer_limit" int null, "active" boolean not null, "reserved_count" int not null default 0, "redeemed_count" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "coupon" add constraint "coupon_code_unique" unique ("code");`);
    this.addSql(`create index "coupon_created_at_id_index" on "coupon" ("created_at", "id");`);
    this.addSql(`alter table "coupon" add constraint "coupon_code_check" check (code ~ '^[A-Z0-9_-]{3,32}$');`);
    this.addSql(`alter table "coupon" add constraint "coupon_reserved_count_check" check (reserved_count >= 0);`);
    this.addSql(`alter table "coupon" add constraint "coupon_redeemed_count_check" check (redeemed_count >= 0);`);
    this.addSql(`alter table "coupon" add constraint "coupon_kind_check" check ("kind" in ('PERCENTAGE', 'FIXED_AMOUNT'));`);
    this.addSql(`create table "redemption" ("id" uuid not null, "coupon_id" uuid not null, "user_id" uuid not null, "code" varchar(255) not null, "discount_amount" int not null, "discount_currency" varchar(3) not null, "status" text not null, "reason" varchar(255) null, "reserved_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "redemption_coupon_id_user_id_index" on "redemption" ("coupon_id", "user_id");`);
    this.addSql(`create index "redemption_unplaced_index" on "redemption" ("reserved_at") where status = 'RESERVED';`);
    this.addSql(`alter table "redemption" add constraint "redemption_discount_amount_check" check (discount_amount >= 0);`);
    this.addSql(`alter table "redemption" add constraint "redemption_status_check" check ("status" in ('RESERVED', 'PLACED', 'COMMITTED', 'RELEASED'));`);
    this.addSql(`create table "applied_coupon" ("user_id" uuid not null, "coupon_id" uuid not null, "applied_at" timestamptz not null, primary key ("user_id"));`);
    this.addSql(`create index "applied_coupon_coupon_id_index" on "applied_coupon" ("coupon_id");`);
    this.addSql(`create table "product_category" ("product_id" uuid not null, "category_id" uuid null, primary key ("product_id"));`);
  }
}
