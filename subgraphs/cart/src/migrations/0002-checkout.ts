import { Migration } from '@mikro-orm/migrations';

export class Checkout extends Migration {
  override up(): void {
    this.addSql(`create table "checkout" ("order_id" uuid not null, "user_id" uuid not null, "lines" jsonb not null, "created_at" timestamptz not null default now(), primary key ("order_id"));`);
  }
}
