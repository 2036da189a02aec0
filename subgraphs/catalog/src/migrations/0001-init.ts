import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "category" ("id" uuid not null, "name" varchar(255) not null, "slug" varchar(255) not null, primary key ("id"));`);
    this.addSql(`alter table "category" add constraint "category_slug_unique" unique ("slug");`);
    this.addSql(`create table "product" ("id" uuid not null, "sku" varchar(255) not null, "name" varchar(255) not null, "description" text not null default '', "price_amount" int not null, "price_currency" varchar(3) not null, "category_id" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "product" add constraint "product_sku_unique" unique ("sku");`);
    this.addSql(`create index "product_category_id_index" on "product" ("category_id");`);
    this.addSql(`create index "product_name_id_index" on "product" ("name", "id");`);
    this.addSql(`alter table "product" add constraint "product_category_id_foreign" foreign key ("category_id") references "category" ("id") on delete set null;`);
    this.addSql(`alter table "product" add constraint "product_price_amount_check" check (price_amount >= 0);`);
  }
}
