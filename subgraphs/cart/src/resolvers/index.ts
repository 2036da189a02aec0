import { ErrorCode, graphqlError, payload, type GraphQLResolverMap, type Identity } from '@shopgraph/kit';
import { canView, cartIdFor, isStaff, lineIdOf, parseLineId, type CartView, type LineView } from '../domain/cart.service.ts';
import type { CartContext } from '../context.ts';

/** The signed-in caller (the kit has enforced `@authenticated` on the field being resolved). */
const viewer = ({ identity }: CartContext): Identity => {
  if (!identity) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Sign in to see a cart');
  return identity;
};

const forbidden = () => graphqlError(ErrorCode.FORBIDDEN, 'A cart is visible only to its owner and staff');

/** A cart by id, for entity references: the caller's own, or any existing one for staff. */
async function cartById(id: string, context: CartContext): Promise<CartView | null> {
  const identity = viewer(context);
  if (id === cartIdFor(identity.userId)) return context.cartsByUser.load(identity.userId);
  // Anyone else's cart id is forbidden whether it exists or not, so ids cannot be probed.
  if (!isStaff(identity)) throw forbidden();
  const owner = await context.carts.ownerOf(id);
  return owner ? context.cartsByUser.load(owner) : null;
}

export const resolvers: GraphQLResolverMap<CartContext> = {
  Query: {
    cart: (_: unknown, __: unknown, context: CartContext) => context.cartsByUser.load(viewer(context).userId),
  },
  Mutation: {
    addToCart: (_: unknown, { input }: { input: { productId: string; quantity: number } }, context: CartContext) =>
      payload(async () => ({ cart: await context.carts.addToCart(viewer(context).userId, input, context.token) })),
    updateCartLine: (_: unknown, { input }: { input: { productId: string; quantity: number } }, context: CartContext) =>
      payload(async () => ({ cart: await context.carts.updateCartLine(viewer(context).userId, input, context.token) })),
    removeFromCart: (_: unknown, { input }: { input: { productId: string } }, context: CartContext) =>
      payload(async () => ({ cart: await context.carts.removeFromCart(viewer(context).userId, input) })),
  },
  Cart: {
    __resolveReference: (ref: { id: string } | { owner: { id: string } }, context: CartContext) => {
      if ('id' in ref) return cartById(ref.id, context);
      if (!canView(viewer(context), ref.owner.id)) throw forbidden();
      return context.cartsByUser.load(ref.owner.id);
    },
    owner: (cart: CartView) => ({ id: cart.userId }),
  },
  CartLine: {
    __resolveReference: async ({ id }: { id: string }, context: CartContext) => {
      const ref = parseLineId(id);
      if (!ref) return null;
      const cart = await cartById(ref.cartId, context);
      return cart?.lines.find((line) => line.productId === ref.productId) ?? null;
    },
    id: (line: LineView) => lineIdOf(line),
    product: (line: LineView) => ({ id: line.productId }),
  },
  User: {
    cart: (user: { id: string }, _: unknown, context: CartContext) => {
      if (!canView(viewer(context), user.id)) throw forbidden();
      return context.cartsByUser.load(user.id);
    },
  },
};
