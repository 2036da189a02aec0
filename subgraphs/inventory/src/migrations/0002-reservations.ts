import { Migration } from '@mikro-orm/migrations';

export class Reservations extends Migration {
  override up(): void {
    this.addSql(`create table "reservation" ("order_id" uuid not null, "product_id" uuid not null, "quantity" int not null, "status" text not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("order_id", "product_id"));`);
    this.addSql(`alter table "reservation" add constraint "reservation_quantity_check" check (quantity > 0);`);
    this.addSql(`alter table "reservation" add constraint "reservation_status_check" check ("status" in ('RESERVED', 'COMMITTED', 'RELEASED'));`);
  }
}
