import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "payment" ("id" uuid not null, "order_id" uuid not null, "user_id" uuid null, "amount" int null, "currency" varchar(3) null, "method" varchar(255) null, "status" text not null default 'PENDING', "failure_code" varchar(255) null, "failure_reason" text null, "provider_reference" varchar(255) null, "stock_reserved" boolean not null default false, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "payment" add constraint "payment_order_id_unique" unique ("order_id");`);
    this.addSql(`create table "test_provider_charge" ("idempotency_key" varchar(255) not null, "kind" text not null, "amount" int not null, "currency" varchar(3) not null, "outcome" text not null, "decline_code" varchar(255) null, "reference" varchar(255) null, "created_at" timestamptz not null, primary key ("idempotency_key"));`);
    this.addSql(`alter table "payment" add constraint "payment_charged_with_order_check" check (status in ('PENDING', 'CANCELLED') or (user_id is not null and amount is not null and currency is not null and method is not null));`);
    this.addSql(`alter table "payment" add constraint "payment_captured_with_reference_check" check (status in ('PENDING', 'FAILED', 'CANCELLED') or provider_reference is not null);`);
    this.addSql(`alter table "payment" add constraint "payment_amount_check" check (amount >= 0);`);
    this.addSql(`alter table "payment" add constraint "payment_status_check" check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED', 'CANCELLED'));`);
    this.addSql(`alter table "test_provider_charge" add constraint "test_provider_charge_amount_check" check (amount >= 0);`);
    this.addSql(`alter table "test_provider_charge" add constraint "test_provider_charge_kind_check" check ("kind" in ('charge', 'refund'));`);
    this.addSql(`alter table "test_provider_charge" add constraint "test_provider_charge_outcome_check" check ("outcome" in ('succeeded', 'declined'));`);
  }
}
