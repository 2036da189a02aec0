import { Migration } from '@mikro-orm/migrations';

/** Fraud screening: rules, decisions, and what the velocity and country rules read on the payment. */
export class FraudScreening extends Migration {
  override up(): void {
    this.addSql(`alter table "payment" add column "shipping_country" varchar(2) null;`);
    this.addSql(`create index "payment_user_id_created_at_index" on "payment" ("user_id", "created_at");`);
    this.addSql(`create index "payment_method_created_at_index" on "payment" ("method", "created_at");`);
    this.addSql(`alter table "payment" drop constraint "payment_status_check";`);
    this.addSql(`alter table "payment" add constraint "payment_status_check" check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED', 'CANCELLED', 'UNDER_REVIEW', 'REJECTED'));`);
    this.addSql(`alter table "payment" drop constraint "payment_captured_with_reference_check";`);
    this.addSql(`alter table "payment" add constraint "payment_captured_with_reference_check" check (status in ('PENDING', 'FAILED', 'CANCELLED', 'UNDER_REVIEW', 'REJECTED') or provider_reference is not null);`);

    this.addSql(`create table "fraud_rule" ("id" uuid not null, "name" varchar(100) not null, "kind" text not null, "enabled" boolean not null, "max_orders" int null, "window_seconds" int null, "amount" int null, "currency" varchar(3) null, "countries" text[] null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "fraud_rule" add constraint "fraud_rule_kind_check" check ("kind" in ('CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'AMOUNT_OVER', 'SHIPPING_COUNTRY'));`);
    this.addSql(`alter table "fraud_rule" add constraint "fraud_rule_velocity_check" check (kind in ('AMOUNT_OVER', 'SHIPPING_COUNTRY') or (max_orders is not null and max_orders >= 1 and window_seconds is not null and window_seconds >= 1));`);
    this.addSql(`alter table "fraud_rule" add constraint "fraud_rule_amount_check" check (kind in ('CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'SHIPPING_COUNTRY') or (amount is not null and amount >= 0 and currency is not null));`);
    this.addSql(`alter table "fraud_rule" add constraint "fraud_rule_countries_check" check (kind in ('CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'AMOUNT_OVER') or (countries is not null and cardinality(countries) >= 1));`);

    this.addSql(`create table "screening_decision" ("order_id" uuid not null, "payment_id" uuid not null, "decision" text not null, "rules" jsonb not null, "screened_at" timestamptz not null, "decided_at" timestamptz null, "reviewer_id" uuid null, "reason" text null, primary key ("order_id"));`);
    this.addSql(`alter table "screening_decision" add constraint "screening_decision_decision_check" check ("decision" in ('REVIEW', 'APPROVED', 'REJECTED', 'CANCELLED'));`);
    this.addSql(`create index "screening_decision_in_review_index" on "screening_decision" ("screened_at", "order_id") where decision = 'REVIEW';`);
  }
}
