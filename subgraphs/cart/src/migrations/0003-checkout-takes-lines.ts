import { Migration } from '@mikro-orm/migrations';

/**
 * Checkout rows now record what became of the lines an order took from the cart, and stay after
 * the outcome. Rows written before keep their lines in the cart (`taken_at` null) and settle the
 * old way; nullable columns keep the previous release's inserts working during a rolling deploy.
 */
export class CheckoutTakesLines extends Migration {
  override up(): void {
    this.addSql(`alter table "checkout" add column "taken_at" timestamptz null, add column "confirmed_at" timestamptz null, add column "returned_at" timestamptz null;`);
  }
}
