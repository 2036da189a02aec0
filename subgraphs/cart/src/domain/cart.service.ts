import type { InferKyselyDB, Kysely } from '@mikro-orm/postgresql';
import { DomainError, Scope, type EntityManager, type Identity } from '@shopgraph/kit';
import { createHash } from 'node:crypto';
import type { Cart } from '../entities/cart.entity.ts';
import type { CartLine } from '../entities/cart-line.entity.ts';
import { uncachedCarts, type CartCache } from './cart-cache.ts';
import type { ProductAvailability } from './product-availability.ts';

/** The tables as Kysely sees them, inferred from the entities. */
type Db = InferKyselyDB<typeof Cart | typeof CartLine>;

export const MAX_LINE_QUANTITY = 99;
export const MAX_LINES = 50;

/** A cart as read: plain data (the cache holds it as JSON). */
export interface CartView {
  id: string;
  userId: string;
  /** In the order the products were first added. */
  lines: LineView[];
}

export interface LineView {
  cartId: string;
  productId: string;
  quantity: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isId = (id: string): boolean => UUID.test(id);

/** Namespace of cart ids (UUID v5 over the owner's id). */
const CART_NAMESPACE = Buffer.from('5f2c6a0e9b7d4c1a8e3f0d2b4a6c8e10', 'hex');

/**
 * A user's cart id, derived from the user's id: the empty cart a new customer reads has the
 * same id as the row their first add creates, and concurrent first adds agree on it.
 */
export function cartIdFor(userId: string): string {
  const hash = createHash('sha1').update(CART_NAMESPACE).update(userId.toLowerCase()).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A line's opaque, stable id: its cart's and product's ids, packed. */
export function lineIdOf(line: Pick<LineView, 'cartId' | 'productId'>): string {
  return Buffer.from(line.cartId.replaceAll('-', '') + line.productId.replaceAll('-', ''), 'hex').toString('base64url');
}

export function parseLineId(id: string): { cartId: string; productId: string } | null {
  const bytes = Buffer.from(id, 'base64url');
  if (bytes.length !== 32 || bytes.toString('base64url') !== id) return null;
  const uuid = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { cartId: uuid(bytes.subarray(0, 16).toString('hex')), productId: uuid(bytes.subarray(16).toString('hex')) };
}

export const isStaff = (viewer: Identity): boolean => viewer.scopes.has(Scope.STAFF);

/** A cart is visible to its owner and to staff. */
export function canView(viewer: Identity, ownerId: string): boolean {
  return viewer.userId.toLowerCase() === ownerId.toLowerCase() || isStaff(viewer);
}

const emptyCart = (userId: string): CartView => ({ id: cartIdFor(userId), userId, lines: [] });

/** Business rules of carts; the only code that changes carts and their lines. */
export class CartService {
  private readonly em: EntityManager;
  private readonly products: ProductAvailability;
  private readonly cache: CartCache;

  constructor(em: EntityManager, products: ProductAvailability, cache: CartCache = uncachedCarts) {
    this.em = em;
    this.products = products;
    this.cache = cache;
  }

  /**
   * The one way carts are read, through the cache: each user's cart, an empty one (with its
   * future id, and no row written) for users who have none.
   */
  async cartsOf(userIds: readonly string[]): Promise<Map<string, CartView>> {
    const carts = new Map(userIds.map((userId) => [userId, emptyCart(userId)]));
    const valid = [...new Set(userIds.filter(isId).map((userId) => userId.toLowerCase()))];
    if (!valid.length) return carts;
    const found = await this.cache.cartsOf(valid, (owners) => this.load(owners));
    for (const userId of userIds) {
      const cart = isId(userId) ? found.get(userId.toLowerCase()) : undefined;
      if (cart) carts.set(userId, { ...cart, userId });
    }
    return carts;
  }

  async cartOf(userId: string): Promise<CartView> {
    return (await this.cartsOf([userId])).get(userId)!;
  }

  /** Reads carts from Postgres: each owner's (ids in lower case), an empty one for owners who have none. */
  private async load(userIds: readonly string[]): Promise<Map<string, CartView>> {
    const carts = new Map(userIds.map((userId) => [userId, emptyCart(userId)]));
    const rows = await this.db()
      .selectFrom('cart as c')
      .leftJoin('cart_line as l', 'l.cart_id', 'c.id')
      .select(['c.id as cartId', 'c.user_id as userId', 'l.product_id as productId', 'l.quantity as quantity'])
      .where('c.user_id', 'in', userIds)
      .orderBy('l.added_at')
      .orderBy('l.product_id')
      .execute();
    for (const row of rows) {
      const cart = carts.get(row.userId)!;
      cart.id = row.cartId;
      if (row.productId !== null && row.quantity !== null) cart.lines.push({ cartId: row.cartId, productId: row.productId, quantity: row.quantity });
    }
    return carts;
  }

  /** Whose cart an id names, if it exists. */
  async ownerOf(cartId: string): Promise<string | null> {
    if (!isId(cartId)) return null;
    const row = await this.db().selectFrom('cart').select('user_id').where('id', '=', cartId).executeTakeFirst();
    return row?.user_id ?? null;
  }

  /** Adds to the product's line (creating the cart and the line as needed). */
  async addToCart(userId: string, input: { productId: string; quantity: number }, token: string | null): Promise<CartView> {
    if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > MAX_LINE_QUANTITY) {
      throw new DomainError('INVALID_QUANTITY', `Quantity must be between 1 and ${MAX_LINE_QUANTITY}`, ['input', 'quantity']);
    }
    const productId = validProductId(input.productId);
    const available = await this.availableQuantity(productId, token);

    await this.changeCart(userId, true, async (db, cartId) => {
      // The cart row is locked: its lines cannot change under these checks.
      const lines = await db.selectFrom('cart_line').select(['product_id', 'quantity']).where('cart_id', '=', cartId).execute();
      const inCart = lines.find((line) => line.product_id === productId)?.quantity ?? 0;
      if (!inCart && lines.length >= MAX_LINES) throw new DomainError('CART_FULL', `A cart holds at most ${MAX_LINES} different products`, ['input', 'productId']);
      const wanted = inCart + input.quantity;
      if (wanted > MAX_LINE_QUANTITY) {
        throw new DomainError('INVALID_QUANTITY', `A line holds at most ${MAX_LINE_QUANTITY}; ${inCart} already in your cart`, ['input', 'quantity']);
      }
      if (wanted > available) throw insufficientStock(available, inCart);
      await db
        .insertInto('cart_line')
        .values((eb) => ({ cart_id: cartId, product_id: productId, quantity: input.quantity, added_at: eb.fn<Date>('clock_timestamp', []) }))
        .onConflict((oc) => oc.columns(['cart_id', 'product_id']).doUpdateSet((eb) => ({ quantity: eb('cart_line.quantity', '+', eb.ref('excluded.quantity')) })))
        .execute();
    });
    return this.cartOf(userId);
  }

  /** Sets a line's quantity; 0 removes it. */
  async updateCartLine(userId: string, input: { productId: string; quantity: number }, token: string | null): Promise<CartView> {
    if (!Number.isInteger(input.quantity) || input.quantity < 0 || input.quantity > MAX_LINE_QUANTITY) {
      throw new DomainError('INVALID_QUANTITY', `Quantity must be between 0 (removes the line) and ${MAX_LINE_QUANTITY}`, ['input', 'quantity']);
    }
    const productId = validProductId(input.productId);
    if (input.quantity === 0) return this.removeFromCart(userId, { productId });
    if (!(await this.cartOf(userId)).lines.some((line) => line.productId === productId)) throw lineNotFound();
    const available = await this.availableQuantity(productId, token);
    if (input.quantity > available) throw insufficientStock(available);

    await this.changeCart(userId, false, async (db, cartId) => {
      const updated = await db
        .updateTable('cart_line')
        .set({ quantity: input.quantity })
        .where('cart_id', '=', cartId)
        .where('product_id', '=', productId)
        .returning('quantity')
        .executeTakeFirst();
      if (!updated) throw lineNotFound();
    });
    return this.cartOf(userId);
  }

  async removeFromCart(userId: string, input: { productId: string }): Promise<CartView> {
    const productId = validProductId(input.productId);
    await this.changeCart(userId, false, async (db, cartId) => {
      const removed = await db.deleteFrom('cart_line').where('cart_id', '=', cartId).where('product_id', '=', productId).returning('product_id').executeTakeFirst();
      if (!removed) throw lineNotFound();
    });
    return this.cartOf(userId);
  }

  /**
   * Runs a change to a user's cart in one transaction, holding the cart row's lock so changes to
   * one cart apply one at a time. With `create`, a missing cart is created first; concurrent
   * creators wait for the first and then find its row.
   *
   * The cached cart is dropped once the transaction has ended, before the change is reported (and
   * before the cart the mutation returns is read), so no reader who saw the change succeed gets the
   * cart of before. Also after a failure: a commit whose outcome is unknown may have happened.
   */
  private async changeCart(userId: string, create: boolean, change: (db: Kysely<Db>, cartId: string) => Promise<void>): Promise<void> {
    try {
      await this.changeInTransaction(userId, create, change);
    } finally {
      await this.cache.invalidate([userId.toLowerCase()]);
    }
  }

  private async changeInTransaction(userId: string, create: boolean, change: (db: Kysely<Db>, cartId: string) => Promise<void>): Promise<void> {
    await this.em.transactional(async (em) => {
      const db = em.getKysely<Db>();
      const now = new Date();
      if (create) {
        // No conflict target: a conflict on any unique key (id or user_id) means the cart exists.
        await db.insertInto('cart').values({ id: cartIdFor(userId), user_id: userId, created_at: now, updated_at: now }).onConflict((oc) => oc.doNothing()).execute();
      }
      const cart = await db.selectFrom('cart').select('id').where('user_id', '=', userId).forUpdate().executeTakeFirst();
      if (!cart) throw lineNotFound();
      await change(db, cart.id);
      await db.updateTable('cart').set({ updated_at: now }).where('id', '=', cart.id).execute();
    });
  }

  private async availableQuantity(productId: string, token: string | null): Promise<number> {
    let availability;
    try {
      availability = await this.products.lookup(productId, token);
    } catch {
      throw new DomainError('PRODUCT_LOOKUP_UNAVAILABLE', 'Products cannot be checked right now; try again shortly', ['input', 'productId']);
    }
    if (!availability.exists) throw new DomainError('PRODUCT_NOT_FOUND', 'No such product', ['input', 'productId']);
    return availability.availableQuantity;
  }

  private db(): Kysely<Db> {
    return this.em.getKysely<Db>();
  }
}

function validProductId(id: string): string {
  if (!isId(id)) throw new DomainError('INVALID_PRODUCT_ID', 'Product id is malformed', ['input', 'productId']);
  return id.toLowerCase();
}

const lineNotFound = () => new DomainError('LINE_NOT_FOUND', 'This product is not in your cart', ['input', 'productId']);

function insufficientStock(available: number, inCart = 0): DomainError {
  const message = available <= 0 ? 'Out of stock: 0 available' : `Only ${available} available${inCart ? `, and ${inCart} already in your cart` : ''}`;
  return new DomainError('INSUFFICIENT_STOCK', message, ['input', 'quantity']);
}
