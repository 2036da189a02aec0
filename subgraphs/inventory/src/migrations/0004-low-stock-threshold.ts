import { Migration } from '@mikro-orm/migrations';

export class LowStockThreshold extends Migration {
  override up(): void {
    this.addSql(`alter table "stock_item" add column "low_stock_threshold" int not null default 5;`);
    this.addSql(`alter table "stock_item" add constraint "stock_item_low_stock_threshold_check" check (low_stock_threshold >= 0);`);
  }
}
