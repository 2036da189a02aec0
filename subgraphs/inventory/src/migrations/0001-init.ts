import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "stock_item" ("product_id" uuid not null, "on_hand" int not null, "reserved" int not null default 0, "version" int not null default 1, "updated_at" timestamptz not null default now(), primary key ("product_id"));`);
    this.addSql(`alter table "stock_item" add constraint "stock_item_reserved_within_on_hand_check" check (reserved <= on_hand);`);
    this.addSql(`alter table "stock_item" add constraint "stock_item_on_hand_check" check (on_hand >= 0);`);
    this.addSql(`alter table "stock_item" add constraint "stock_item_reserved_check" check (reserved >= 0);`);
  }
}
