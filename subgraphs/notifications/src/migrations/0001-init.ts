import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "notification" ("id" uuid not null, "key" varchar(255) not null, "kind" text not null, "user_id" uuid null, "order_id" uuid null, "facts" jsonb not null, "subject" text null, "body_text" text null, "body_html" text null, "recipient" varchar(255) null, "status" text not null default 'PENDING', "attempts" int not null default 0, "next_attempt_at" timestamptz not null default now(), "last_error" text null, "sent_at" timestamptz null, "read_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`alter table "notification" add constraint "notification_key_unique" unique ("key");`);
    this.addSql(`create index "notification_due_index" on "notification" ("next_attempt_at") where status in ('PENDING', 'SENDING');`);
    this.addSql(`create index "notification_user_index" on "notification" ("user_id", "created_at", "id");`);
    this.addSql(`create index "notification_failed_index" on "notification" ("updated_at", "id") where status = 'FAILED';`);
    this.addSql(`create table "notification_preference" ("user_id" uuid not null, "kind" text not null, "email" boolean not null, "updated_at" timestamptz not null default now(), primary key ("user_id", "kind"));`);
    this.addSql(`create table "order_summary" ("order_id" uuid not null, "user_id" uuid not null, "lines" jsonb not null, "total" jsonb not null, primary key ("order_id"));`);
    this.addSql(`create table "product_name" ("product_id" uuid not null, "sku" varchar(255) not null, "name" text not null, primary key ("product_id"));`);
    this.addSql(`create table "user_contact" ("user_id" uuid not null, "email" varchar(255) not null, "name" text not null, primary key ("user_id"));`);
    this.addSql(`create index "user_contact_email_index" on "user_contact" ("email");`);
    this.addSql(`alter table "notification" add constraint "notification_kind_check" check ("kind" in ('WELCOME', 'ORDER_CONFIRMED', 'PAYMENT_FAILED', 'ORDER_CANCELLED', 'ORDER_SHIPPED', 'ORDER_DELIVERED', 'LOW_STOCK'));`);
    this.addSql(`alter table "notification" add constraint "notification_status_check" check ("status" in ('PENDING', 'SENDING', 'SENT', 'SKIPPED', 'FAILED'));`);
    this.addSql(`alter table "notification_preference" add constraint "notification_preference_kind_check" check ("kind" in ('WELCOME', 'ORDER_CONFIRMED', 'PAYMENT_FAILED', 'ORDER_CANCELLED', 'ORDER_SHIPPED', 'ORDER_DELIVERED', 'LOW_STOCK'));`);
  }
}
