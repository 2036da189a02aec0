import type { RequestContext, RequestInput } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import type { CartCache } from './domain/cart-cache.ts';
import { CartService, type CartView } from './domain/cart.service.ts';
import type { ProductAvailability } from './domain/product-availability.ts';

export interface CartContext extends RequestContext {
  carts: CartService;
  /** Batches the cart reads of one request, by owner (`User.cart` for many users, references). */
  cartsByUser: DataLoader<string, CartView>;
  /** The caller's access token, forwarded when cart asks catalog and inventory about products. */
  token: string | null;
}

export const cartContext =
  (availability: ProductAvailability, cache: CartCache) =>
  ({ identity, token, em }: RequestInput<unknown>): CartContext => {
    const carts = new CartService(em, availability, cache);
    // Every user has a cart (an empty one until they add a line): cartsOf answers for each id.
    const cartsByUser = new DataLoader<string, CartView>(async (userIds) => {
      const found = await carts.cartsOf(userIds);
      return userIds.map((userId) => found.get(userId)!);
    });
    return { identity, carts, cartsByUser, token };
  };
