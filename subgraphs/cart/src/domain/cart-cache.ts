import type { EntityManager } from '@shopgraph/kit';
import type { CartView } from './cart.service.ts';

/** Reads carts from Postgres, by owner id (lower case); every id asked for is in the answer. */
export type CartLoader = (userIds: readonly string[]) => Promise<Map<string, CartView>>;

/**
 * The port through which cart reads go to a cache (cache-aside; the Redis adapter is
 * clients/cart-cache.client.ts). Postgres stays the truth: a cache that cannot answer sends
 * reads to `load`, it never fails a read on its own account.
 */
export interface CartCache {
  /**
   * Each owner's cart (ids in lower case): from the cache where it holds a current one, else from
   * `load` (then kept for the next reader). Concurrent misses of one cart may share one load.
   */
  cartsOf(userIds: readonly string[], load: CartLoader): Promise<Map<string, CartView>>;
  /**
   * Forgets owners' carts (ids in lower case). Call it once the change is committed, and before the
   * writer reports success: a reader that saw the change succeed must not get the cart of before.
   * Never rejects.
   */
  invalidate(userIds: readonly string[]): Promise<void>;
}

/** No cache: every read goes to Postgres (REDIS_URL empty). */
export const uncachedCarts: CartCache = {
  cartsOf: (userIds, load) => load(userIds),
  invalidate: async () => {},
};

/**
 * Runs `run` once the transaction `em` belongs to has committed (never when it rolls back): for
 * invalidating a cache from code that runs inside a transaction it does not own (an event handler,
 * whose consumer commits). The commit waits for `run`, which must not reject.
 *
 * MikroORM gives every transaction an EntityManager fork with an event manager of its own, so the
 * subscriber lives and dies with this transaction; a nested transaction (savepoint) clones it, so
 * only the commit of `em`'s own transaction counts.
 */
export function afterCommit(em: EntityManager, run: () => Promise<void>): void {
  if (!em.isInTransaction()) throw new Error('afterCommit needs a transaction');
  em.getEventManager().registerSubscriber({
    afterTransactionCommit: async (args) => {
      if ((args.em as unknown) === em) await run();
    },
  });
}
