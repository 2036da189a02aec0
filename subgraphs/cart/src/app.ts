import { createSubgraph, openDatabase, pingDatabase, readSchema, verifierFromConfig, type Logger, type RequestContext, type Service, type TokenVerifier } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import { graphProductAvailability } from './clients/product-availability.client.ts';
import { CartService, type CartView } from './domain/cart.service.ts';
import type { ProductAvailability } from './domain/product-availability.ts';
import { entities } from './entities/index.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface CartContext extends RequestContext {
  carts: CartService;
  /** Batches the cart reads of one request, by owner (`User.cart` for many users, references). */
  cartsByUser: DataLoader<string, CartView>;
  /** The caller's access token, forwarded when cart asks the supergraph about products. */
  token: string | null;
}

export interface Deps {
  config: Config;
  logger: Logger;
  /** Defaults to the issuer's JWKS from config; tests pass one for their own keys. */
  verifier?: TokenVerifier;
  /** Defaults to asking the supergraph at GRAPH_URL; tests pass an in-process one. */
  products?: ProductAvailability;
}

export async function createCartApp({ config, logger, verifier, products }: Deps): Promise<Service> {
  const availability = products ?? graphProductAvailability({ url: config.GRAPH_URL, timeoutMs: config.PRODUCT_LOOKUP_TIMEOUT_MS, logger });
  const orm = await openDatabase({ url: config.DATABASE_URL, entities, migrations });
  const service = await createSubgraph<CartContext>({
    name: 'cart',
    typeDefs: readSchema(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    verifier: verifier ?? verifierFromConfig(config),
    limits: config,
    logger,
    production: config.NODE_ENV === 'production',
    readiness: { database: () => pingDatabase(orm) },
    context: (identity, req) => {
      const carts = new CartService(orm.em.fork(), availability);
      const cartsByUser = new DataLoader<string, CartView>(async (userIds) => {
        const found = await carts.cartsOf(userIds);
        return userIds.map((userId) => found.get(userId)!);
      });
      // The kit has verified the header by now; with an identity it is "Bearer <token>".
      const token = identity ? (/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null) : null;
      return { identity, carts, cartsByUser, token };
    },
  });
  return {
    server: service.server,
    listen: service.listen,
    close: async () => {
      await service.close();
      await orm.close();
    },
  };
}
