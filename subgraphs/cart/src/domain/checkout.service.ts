import type { InferKyselyDB, Kysely } from '@mikro-orm/postgresql';
import type { EntityManager } from '@shopgraph/kit';
import type { Cart } from '../entities/cart.entity.ts';
import type { CartLine } from '../entities/cart-line.entity.ts';
import type { Checkout, CheckoutLine } from '../entities/checkout.entity.ts';
import { afterCommit, uncachedCarts, type CartCache } from './cart-cache.ts';

type Db = InferKyselyDB<typeof Cart | typeof CartLine | typeof Checkout>;

/** What an order status means for the cart it was placed from. */
export type CheckoutAction =
  /** Confirmed: the ordered quantities leave the cart. */
  | 'empty'
  /** Failed for good: the cart stays as it is, so the customer can try again. */
  | 'forget'
  /** Not decided yet (or decided already): nothing to do. */
  | 'wait';

export function checkoutAction(status: string): CheckoutAction {
  switch (status) {
    case 'CONFIRMED':
      return 'empty';
    case 'OUT_OF_STOCK':
    case 'PAYMENT_FAILED':
    case 'CANCELLED':
      return 'forget';
    default:
      // PENDING and STOCK_RESERVED come before the outcome; SHIPPED and DELIVERED after CONFIRMED.
      return 'wait';
  }
}

/**
 * One order's quantities per product (repeated products summed), ids in lower case.
 */
export function orderedQuantities(lines: readonly CheckoutLine[]): CheckoutLine[] {
  const byProduct = new Map<string, number>();
  for (const { productId, quantity } of lines) byProduct.set(productId.toLowerCase(), (byProduct.get(productId.toLowerCase()) ?? 0) + quantity);
  return [...byProduct].map(([productId, quantity]) => ({ productId, quantity }));
}

/**
 * What subtracting an order's quantities does to a cart's lines: lines that reach zero or less go,
 * others shrink; lines of products the order did not take (added after checkout) are untouched.
 */
export function subtractOrdered(cartLines: readonly CheckoutLine[], ordered: readonly CheckoutLine[]): { remove: string[]; update: CheckoutLine[] } {
  const taken = new Map(orderedQuantities(ordered).map((line) => [line.productId, line.quantity]));
  const remove: string[] = [];
  const update: CheckoutLine[] = [];
  for (const line of cartLines) {
    const quantity = taken.get(line.productId.toLowerCase());
    if (quantity === undefined) continue;
    if (line.quantity - quantity <= 0) remove.push(line.productId);
    else update.push({ productId: line.productId, quantity: line.quantity - quantity });
  }
  return { remove, update };
}

export type SettleOutcome = 'emptied' | 'kept' | 'ignored';

/**
 * Checkout from the cart's side: "the cart is emptied only on success". An order placed from a
 * cart is remembered with its lines; once the order is confirmed exactly those quantities leave
 * the cart, and if it fails the cart is left alone. Runs inside the consumer's transaction.
 */
export class CheckoutService {
  private readonly em: EntityManager;
  private readonly cache: CartCache;

  constructor(em: EntityManager, cache: CartCache = uncachedCarts) {
    if (!em.isInTransaction()) throw new Error('CheckoutService needs a transaction');
    this.em = em;
    this.cache = cache;
  }

  /** Remembers an order placed from a user's cart until its outcome is known. A redelivery changes nothing. */
  async remember(order: { orderId: string; userId: string; lines: readonly CheckoutLine[] }): Promise<boolean> {
    const lines = orderedQuantities(order.lines);
    const inserted = await this.db()
      .insertInto('checkout')
      .values({ order_id: order.orderId, user_id: order.userId, lines: JSON.stringify(lines) as unknown as CheckoutLine[] })
      .onConflict((oc) => oc.column('order_id').doNothing())
      .returning('order_id')
      .executeTakeFirst();
    return inserted !== undefined;
  }

  /**
   * Applies an order's new status to the cart it came from. Deleting the checkout row claims it:
   * of two deliveries of the outcome only the first finds the row, so the cart changes once.
   *
   * A status with no checkout row to claim is ignored. That is never a status "arriving before"
   * its order: `orders.order.placed` and `orders.order.status-changed` share the topic
   * `orders.order.v1` and are keyed by the order id (see events/src/contracts), so one order's
   * events sit on one partition and reach this consumer in the order they were recorded; placed
   * always comes first. No row therefore means the outcome was applied already (a redelivery, or
   * SHIPPED after CONFIRMED), and doing nothing is right.
   */
  async settle(change: { orderId: string; status: string }): Promise<SettleOutcome> {
    const action = checkoutAction(change.status);
    if (action === 'wait') return 'ignored';
    const checkout = await this.db().deleteFrom('checkout').where('order_id', '=', change.orderId).returning(['user_id', 'lines']).executeTakeFirst();
    if (!checkout) return 'ignored';
    if (action === 'forget') return 'kept';
    await this.subtract(checkout.user_id, checkout.lines as unknown as CheckoutLine[]);
    return 'emptied';
  }

  /**
   * Takes the ordered quantities out of the user's cart, holding the cart row's lock like every cart
   * change. The cached cart is dropped once the caller's transaction (the consumer's) has committed.
   */
  private async subtract(userId: string, ordered: CheckoutLine[]): Promise<void> {
    const db = this.db();
    const cart = await db.selectFrom('cart').select('id').where('user_id', '=', userId).forUpdate().executeTakeFirst();
    if (!cart) return;
    const lines = await db.selectFrom('cart_line').select(['product_id', 'quantity']).where('cart_id', '=', cart.id).execute();
    const { remove, update } = subtractOrdered(lines.map((line) => ({ productId: line.product_id, quantity: line.quantity })), ordered);
    if (!remove.length && !update.length) return;
    if (remove.length) await db.deleteFrom('cart_line').where('cart_id', '=', cart.id).where('product_id', 'in', remove).execute();
    for (const line of update) {
      await db.updateTable('cart_line').set({ quantity: line.quantity }).where('cart_id', '=', cart.id).where('product_id', '=', line.productId).execute();
    }
    await db.updateTable('cart').set({ updated_at: new Date() }).where('id', '=', cart.id).execute();
    afterCommit(this.em, () => this.cache.invalidate([userId.toLowerCase()]));
  }

  private db(): Kysely<Db> {
    return this.em.getKysely<Db>();
  }
}
