import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "review" ("id" uuid not null, "product_id" uuid not null, "author_id" uuid not null, "rating" int not null, "title" text not null, "body" text not null, "verified_purchase" boolean not null, "hidden_reason" text null, "hidden_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "review_product_id_created_at_id_index" on "review" ("product_id", "created_at", "id");`);
    this.addSql(`create index "review_author_id_created_at_id_index" on "review" ("author_id", "created_at", "id");`);
    this.addSql(`alter table "review" add constraint "review_author_id_product_id_unique" unique ("author_id", "product_id");`);
    this.addSql(`alter table "review" add constraint "review_rating_check" check (rating >= 1 and rating <= 5);`);
    this.addSql(`create table "product_rating" ("product_id" uuid not null, "stars1" int not null default 0, "stars2" int not null default 0, "stars3" int not null default 0, "stars4" int not null default 0, "stars5" int not null default 0, primary key ("product_id"));`);
    for (let stars = 1; stars <= 5; stars++) this.addSql(`alter table "product_rating" add constraint "product_rating_stars${stars}_check" check (stars${stars} >= 0);`);
    this.addSql(`create table "purchased_line" ("order_id" uuid not null, "product_id" uuid not null, "user_id" uuid not null, primary key ("order_id", "product_id"));`);
    this.addSql(`create index "purchased_line_user_id_product_id_index" on "purchased_line" ("user_id", "product_id");`);
    this.addSql(`create table "delivered_order" ("order_id" uuid not null, "user_id" uuid not null, "delivered_at" timestamptz not null, primary key ("order_id"));`);
  }
}
