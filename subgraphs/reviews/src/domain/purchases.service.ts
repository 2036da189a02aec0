import type { EventData } from '@shopgraph/events';
import type { EntityManager } from '@shopgraph/kit';

/**
 * Reviews' read model of purchases, kept from orders' events (never asked of orders): the products
 * of every order, and which orders were delivered. A customer has received a product when an order
 * of theirs with it was delivered. Every write ignores what is already there, so a redelivered or
 * replayed event changes nothing.
 */
export class PurchasesService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** `orders.order.placed`: which products the order holds, for whom. */
  async orderPlaced(order: EventData<'orders.order.placed'>): Promise<void> {
    const productIds = [...new Set(order.lines.map((line) => line.productId.toLowerCase()))];
    const orderId = order.orderId.toLowerCase();
    const userId = order.userId.toLowerCase();
    await this.em.execute(
      `insert into purchased_line (order_id, product_id, user_id) values ${productIds.map(() => '(?, ?, ?)').join(', ')} on conflict do nothing`,
      productIds.flatMap((productId) => [orderId, productId, userId]),
    );
  }

  /** `orders.order.status-changed` to DELIVERED: the order's products reached the customer. */
  async orderDelivered(change: EventData<'orders.order.status-changed'>): Promise<void> {
    await this.em.execute(`insert into delivered_order (order_id, user_id, delivered_at) values (?, ?, ?) on conflict do nothing`, [
      change.orderId.toLowerCase(),
      change.userId.toLowerCase(),
      new Date(change.at),
    ]);
  }

  /** Whether the customer has received the product: an order of theirs holding it was delivered. */
  async received(userId: string, productId: string): Promise<boolean> {
    const [row] = await this.em.execute<{ received: boolean }[]>(
      `select exists (select 1 from purchased_line l join delivered_order d on d.order_id = l.order_id where l.user_id = ? and l.product_id = ?) as received`,
      [userId.toLowerCase(), productId.toLowerCase()],
    );
    return row?.received === true;
  }
}
