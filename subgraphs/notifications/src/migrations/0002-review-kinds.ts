import { Migration } from '@mikro-orm/migrations';

const KINDS = `('WELCOME', 'ORDER_CONFIRMED', 'PAYMENT_FAILED', 'ORDER_UNDER_REVIEW', 'ORDER_REJECTED', 'ORDER_CANCELLED', 'ORDER_SHIPPED', 'ORDER_DELIVERED', 'LOW_STOCK')`;

/** Notifications of an order held for a payment review, and of one rejected in it. */
export class ReviewKinds extends Migration {
  override up(): void {
    for (const table of ['notification', 'notification_preference']) {
      this.addSql(`alter table "${table}" drop constraint "${table}_kind_check";`);
      this.addSql(`alter table "${table}" add constraint "${table}_kind_check" check ("kind" in ${KINDS});`);
    }
  }
}
