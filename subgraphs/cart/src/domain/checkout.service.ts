import type { InferKyselyDB, Kysely } from '@mikro-orm/postgresql';
import type { EntityManager } from '@shopgraph/kit';
import type { Cart } from '../entities/cart.entity.ts';
import type { CartLine } from '../entities/cart-line.entity.ts';
import type { Checkout, CheckoutLine } from '../entities/checkout.entity.ts';
import { afterCommit, uncachedCarts, type CartCache } from './cart-cache.ts';
import { MAX_LINE_QUANTITY, MAX_LINES } from './cart.service.ts';

type Db = InferKyselyDB<typeof Cart | typeof CartLine | typeof Checkout>;

/** What an order status means for the lines the order took from its customer's cart. */
export type CheckoutAction =
  /** Confirmed: the lines stay out of the cart for good. */
  | 'keep'
  /** Failed for good: the lines go back into the cart (unless the order was confirmed before), so the customer can try again. */
  | 'return'
  /** Not decided yet (or decided already): nothing to do. */
  | 'wait';

export function checkoutAction(status: string): CheckoutAction {
  switch (status) {
    case 'CONFIRMED':
      return 'keep';
    case 'OUT_OF_STOCK':
    case 'PAYMENT_FAILED':
    case 'REJECTED':
    case 'CANCELLED':
      return 'return';
    default:
      // PENDING, STOCK_RESERVED and UNDER_REVIEW come before the outcome; SHIPPED and DELIVERED after CONFIRMED.
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

/** A change to a cart's lines: products whose line goes, and lines written with their new quantity (created if missing). */
export interface LinesChange {
  remove: string[];
  set: CheckoutLine[];
}

/**
 * What taking an order's quantities out of a cart does: each ordered product's line shrinks by the
 * quantity ordered, or goes when that is all of it; lines of other products are untouched. `taken`
 * is what actually left the cart: less than ordered where the cart held fewer.
 */
export function takeOrdered(cartLines: readonly CheckoutLine[], ordered: readonly CheckoutLine[]): LinesChange & { taken: CheckoutLine[] } {
  const inCart = quantitiesOf(cartLines);
  const change: LinesChange & { taken: CheckoutLine[] } = { remove: [], set: [], taken: [] };
  for (const { productId, quantity } of orderedQuantities(ordered)) {
    const held = inCart.get(productId);
    if (held === undefined) continue;
    const taken = Math.min(held, quantity);
    change.taken.push({ productId, quantity: taken });
    if (taken === held) change.remove.push(productId);
    else change.set.push({ productId, quantity: held - taken });
  }
  return change;
}

/**
 * What putting taken lines back into a cart does: merged into the line of the same product, or a
 * new line. The cart's limits hold as for a customer's add (at most MAX_LINE_QUANTITY per line,
 * MAX_LINES products): what does not fit is `dropped`, not forced in.
 */
export function returnTaken(cartLines: readonly CheckoutLine[], taken: readonly CheckoutLine[]): { set: CheckoutLine[]; dropped: CheckoutLine[] } {
  const inCart = quantitiesOf(cartLines);
  let products = inCart.size;
  const set: CheckoutLine[] = [];
  const dropped: CheckoutLine[] = [];
  for (const { productId, quantity } of orderedQuantities(taken)) {
    const held = inCart.get(productId);
    const room = held === undefined ? (products < MAX_LINES ? MAX_LINE_QUANTITY : 0) : Math.max(0, MAX_LINE_QUANTITY - held);
    const back = Math.min(quantity, room);
    if (back > 0) {
      set.push({ productId, quantity: (held ?? 0) + back });
      if (held === undefined) products++;
    }
    if (back < quantity) dropped.push({ productId, quantity: quantity - back });
  }
  return { set, dropped };
}

const quantitiesOf = (lines: readonly CheckoutLine[]) => new Map(lines.map((line) => [line.productId.toLowerCase(), line.quantity]));

/** What applying an order's status did to the cart. */
export type SettleOutcome =
  /** Confirmed: its lines stay out of the cart. */
  | { result: 'kept' }
  /** Failed before it was confirmed: its lines are back in the cart, but for `dropped`, which did not fit. */
  | { result: 'returned'; dropped: CheckoutLine[] }
  /** Nothing to apply: settled already, not an outcome, or the order was never seen placed. */
  | { result: 'ignored' };

/**
 * Checkout from the cart's side: an order's lines leave the cart when it is placed, and come back
 * only if it fails without ever having been confirmed (a cancelled paid order is refunded; the
 * customer did not ask to buy it again). A checkout row per order records each step, and each
 * step claims the row with a conditional write first, so a redelivered or repeated event of the
 * order changes the cart once at most. Cart changes hold the cart row's lock, like every change in
 * CartService. Runs inside the consumer's transaction.
 */
export class CheckoutService {
  private readonly em: EntityManager;
  private readonly cache: CartCache;

  constructor(em: EntityManager, cache: CartCache = uncachedCarts) {
    if (!em.isInTransaction()) throw new Error('CheckoutService needs a transaction');
    this.em = em;
    this.cache = cache;
  }

  /**
   * Takes a placed order's quantities out of the user's cart, and records what it took. An order
   * seen before (a duplicate, or an order whose failure came first: see `settle`) takes nothing.
   */
  async place(order: { orderId: string; userId: string; lines: readonly CheckoutLine[] }): Promise<boolean> {
    const [claimed] = await this.em.execute<{ cart_id: string | null }[]>(CLAIM_AND_LOCK_CART, [order.orderId, order.userId]);
    if (!claimed) return false;
    if (claimed.cart_id) {
      // Read in a statement of its own: one sees what committed before it began, i.e. before the lock.
      const { taken, ...change } = takeOrdered(await this.linesOf(claimed.cart_id), order.lines);
      await this.changeCart(claimed.cart_id, order.userId, change, { orderId: order.orderId, taken });
    }
    return true;
  }

  /**
   * Applies an order's outcome to the cart it came from. The first outcome claims the checkout row;
   * later ones (a redelivery, CANCELLED after CONFIRMED) find it settled and change nothing.
   *
   * One order's events share the topic `orders.order.v1` and its key, so placed comes first; only a
   * placement replayed from the dead-letter topic can come after the outcome. A failure without a
   * row is therefore recorded as settled, so that such a placement takes nothing from the cart; a
   * confirmation is not, so that one takes the lines the confirmed order bought.
   */
  async settle(change: { orderId: string; userId: string; status: string }): Promise<SettleOutcome> {
    const action = checkoutAction(change.status);
    if (action === 'wait') return { result: 'ignored' };
    const now = new Date();
    const checkout = await this.db()
      .updateTable('checkout')
      .set(action === 'keep' ? { confirmed_at: now } : { returned_at: now })
      .where('order_id', '=', change.orderId)
      .where('confirmed_at', 'is', null)
      .where('returned_at', 'is', null)
      .returning(['user_id', 'lines', 'taken_at'])
      .executeTakeFirst();
    if (!checkout) {
      if (action === 'return') {
        await this.db()
          .insertInto('checkout')
          .values({ order_id: change.orderId, user_id: change.userId, lines: asJson([]), returned_at: now })
          .onConflict((oc) => oc.column('order_id').doNothing())
          .execute();
      }
      return { result: 'ignored' };
    }
    const lines = checkout.lines as unknown as CheckoutLine[];
    // A row without `taken_at` was placed under the previous release, which left the lines in the
    // cart until the order was confirmed.
    const taken = checkout.taken_at !== null;
    if (action === 'keep') {
      if (!taken) await this.takeFromCart(checkout.user_id, lines);
      return { result: 'kept' };
    }
    return { result: 'returned', dropped: taken ? await this.returnToCart(checkout.user_id, lines) : [] };
  }

  /** Takes ordered quantities out of the user's cart (if they have one). */
  private async takeFromCart(userId: string, ordered: readonly CheckoutLine[]): Promise<void> {
    const cart = await this.lockCart(userId);
    if (!cart) return;
    const { remove, set } = takeOrdered(await this.linesOf(cart.id), ordered);
    await this.changeCart(cart.id, userId, { remove, set });
  }

  /**
   * Puts taken lines back into the user's current cart, merged with what is there now; returns
   * what did not fit. The cart exists: the lines were taken from it, and carts are never deleted.
   */
  private async returnToCart(userId: string, taken: readonly CheckoutLine[]): Promise<CheckoutLine[]> {
    if (!taken.length) return [];
    const cart = await this.lockCart(userId);
    if (!cart) return [...taken];
    const { set, dropped } = returnTaken(await this.linesOf(cart.id), taken);
    await this.changeCart(cart.id, userId, { remove: [], set });
    return dropped;
  }

  /** The user's cart, its row locked until the transaction ends (the lock every cart change holds). */
  private lockCart(userId: string) {
    return this.db().selectFrom('cart').select('id').where('user_id', '=', userId).forUpdate().executeTakeFirst();
  }

  private async linesOf(cartId: string): Promise<CheckoutLine[]> {
    const lines = await this.db().selectFrom('cart_line').select(['product_id', 'quantity']).where('cart_id', '=', cartId).execute();
    return lines.map((line) => ({ productId: line.product_id, quantity: line.quantity }));
  }

  /**
   * Applies a change to a locked cart in one statement, and records what an order took (`taking`)
   * in the same. A new line goes last, as if just added; an existing one keeps its place. The
   * cached cart is dropped once the caller's transaction (the consumer's) has committed.
   */
  private async changeCart(cartId: string, userId: string, { remove, set }: LinesChange, taking?: { orderId: string; taken: CheckoutLine[] }): Promise<void> {
    if (!remove.length && !set.length) return;
    const change = [cartId, JSON.stringify(remove), cartId, JSON.stringify(set), cartId];
    await (taking ? this.em.execute(CHANGE_CART_RECORDING_TAKEN, [...change, JSON.stringify(taking.taken), taking.orderId]) : this.em.execute(CHANGE_CART, change));
    afterCommit(this.em, () => this.cache.invalidate([userId.toLowerCase()]));
  }

  private db(): Kysely<Db> {
    return this.em.getKysely<Db>();
  }
}

/**
 * Claims an order's checkout row and, when it was not claimed before, locks the user's cart: one
 * row (the cart's id, null without a cart) for a claim, none for an order seen before.
 */
const CLAIM_AND_LOCK_CART = `with claimed as (
  insert into checkout (order_id, user_id, lines, taken_at) values (?, ?, '[]', now()) on conflict (order_id) do nothing returning user_id
)
select (select cart.id from cart where cart.user_id = claimed.user_id for update) as cart_id from claimed`;

/** A locked cart's lines removed (product ids) and written (lines, new ones last). */
const CHANGE_LINES = `with removed as (
  delete from cart_line where cart_id = ? and product_id in (select id::uuid from jsonb_array_elements_text(?::jsonb) as removed(id))
), written as (
  insert into cart_line (cart_id, product_id, quantity, added_at)
  select ?, line."productId", line.quantity, clock_timestamp() from jsonb_to_recordset(?::jsonb) as line("productId" uuid, quantity int)
  on conflict (cart_id, product_id) do update set quantity = excluded.quantity
)`;

/** CHANGE_LINES, and the cart marked updated. */
const CHANGE_CART = `${CHANGE_LINES}
update cart set updated_at = now() where id = ?`;

/** CHANGE_CART, and what an order took recorded on its checkout row. */
const CHANGE_CART_RECORDING_TAKEN = `${CHANGE_LINES}, touched as (update cart set updated_at = now() where id = ?)
update checkout set lines = ?::jsonb where order_id = ?`;

/** A jsonb value as the insert expects it. */
const asJson = (lines: readonly CheckoutLine[]) => JSON.stringify(lines) as unknown as CheckoutLine[];
