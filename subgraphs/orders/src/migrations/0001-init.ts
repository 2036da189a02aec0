import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "customer_order" ("id" uuid not null, "user_id" uuid not null, "status" text not null, "status_version" int not null, "status_changed_at" timestamptz not null, "idempotency_key" varchar(100) not null, "total_amount" int not null, "total_currency" varchar(3) not null, "payment_method" varchar(255) not null, "shipping_address" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "customer_order_user_id_created_at_id_index" on "customer_order" ("user_id", "created_at", "id");`);
    this.addSql(`create index "customer_order_status_status_changed_at_index" on "customer_order" ("status", "status_changed_at");`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_user_id_idempotency_key_unique" unique ("user_id", "idempotency_key");`);
    this.addSql(`create table "order_line" ("order_id" uuid not null, "product_id" uuid not null, "position" int not null, "quantity" int not null, "unit_price_amount" int not null, "unit_price_currency" varchar(3) not null, primary key ("order_id", "product_id"));`);
    this.addSql(`create table "order_status_change" ("order_id" uuid not null, "version" int not null, "status" text not null, "reason" text null, "at" timestamptz not null, primary key ("order_id", "version"));`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_status_version_check" check (status_version > 0);`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_total_amount_check" check (total_amount >= 0);`);
    this.addSql(`alter table "customer_order" add constraint "customer_order_status_check" check ("status" in ('PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED'));`);
    this.addSql(`alter table "order_line" add constraint "order_line_order_id_foreign" foreign key ("order_id") references "customer_order" ("id") on delete cascade;`);
    this.addSql(`alter table "order_line" add constraint "order_line_quantity_check" check (quantity > 0);`);
    this.addSql(`alter table "order_line" add constraint "order_line_unit_price_amount_check" check (unit_price_amount >= 0);`);
    this.addSql(`alter table "order_status_change" add constraint "order_status_change_order_id_foreign" foreign key ("order_id") references "customer_order" ("id") on delete cascade;`);
    this.addSql(`alter table "order_status_change" add constraint "order_status_change_version_check" check (version > 0);`);
    this.addSql(`alter table "order_status_change" add constraint "order_status_change_status_check" check ("status" in ('PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED'));`);
  }
}
