import { Migration } from '@mikro-orm/migrations';

export class CancelledOrders extends Migration {
  override up(): void {
    this.addSql(`create table "cancelled_order" ("order_id" uuid not null, "reason" text not null, "cancelled_at" timestamptz not null default now(), primary key ("order_id"));`);
  }
}
