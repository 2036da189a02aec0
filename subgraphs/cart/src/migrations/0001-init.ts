import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "cart" ("id" uuid not null, "user_id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "cart" add constraint "cart_user_id_unique" unique ("user_id");`);
    this.addSql(`create table "cart_line" ("cart_id" uuid not null, "product_id" uuid not null, "quantity" int not null, "added_at" timestamptz not null, primary key ("cart_id", "product_id"));`);
    this.addSql(`alter table "cart_line" add constraint "cart_line_cart_id_foreign" foreign key ("cart_id") references "cart" ("id") on delete cascade;`);
    this.addSql(`alter table "cart_line" add constraint "cart_line_quantity_check" check (quantity > 0);`);
  }
}
