import { DateTimeScalar, DomainError, ErrorCode, graphqlError, payload, Scope, type GraphQLResolverMap, type Identity } from '@shopgraph/kit';
import { priceCart, type CartPricing, type Money } from '../domain/coupon-rules.ts';
import { encodeCursor, type CreateCouponInput, type UpdateCouponInput } from '../domain/coupons.service.ts';
import type { CheckoutLine, Reservation } from '../domain/redemptions.service.ts';
import type { Coupon } from '../entities/index.ts';
import type { PromotionsContext } from '../context.ts';

/** The signed-in caller (`@authenticated` has let only them through). */
const callerOf = ({ identity }: PromotionsContext): string => identity!.userId.toLowerCase();

/** A bad argument of a query (a page size, a cursor) is the client's error, with our reason. */
async function query<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DomainError) throw graphqlError(ErrorCode.BAD_USER_INPUT, error.message, { reason: error.code });
    throw error;
  }
}

/** A cart as promotions knows it: its owner and, when the router sends what the fields require, its lines and subtotal. */
interface CartRef {
  owner: { id: string };
  lines?: { product: { id: string }; lineTotal: Money }[];
  subtotal?: Money;
  pricing?: CartPricing;
}

/** A cart is visible to its owner and staff only, as in cart (a direct call with someone else's owner id learns nothing). */
function assertMayView(identity: Identity | null, ownerId: string): void {
  if (!identity) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Sign in to see a cart');
  if (identity.userId.toLowerCase() !== ownerId.toLowerCase() && !identity.scopes.has(Scope.STAFF)) throw graphqlError(ErrorCode.FORBIDDEN, 'A cart is visible only to its owner and staff');
}

function pricingOf(cart: CartRef): CartPricing {
  if (!cart.pricing) throw new Error('Cart pricing needs the cart\'s lines and subtotal (its fields @require them)');
  return cart.pricing;
}

const cartOf = (userId: string): CartRef => ({ owner: { id: userId } });

/** reserveCoupon, counted by result (a refusal by its code). */
async function reserve(context: PromotionsContext, input: { orderId: string; lines: CheckoutLine[] }): Promise<Reservation> {
  try {
    const reservation = await context.redemptions.reserve(callerOf(context), input.orderId, input.lines);
    context.metrics.reservation(reservation.result);
    return reservation;
  } catch (error) {
    if (error instanceof DomainError) context.metrics.reservation(error.code.toLowerCase());
    throw error;
  }
}

export const resolvers: GraphQLResolverMap<PromotionsContext> = {
  DateTime: DateTimeScalar,
  Query: {
    coupons: (_: unknown, args: { first: number; after?: string | null }, { coupons }: PromotionsContext) =>
      query(async () => {
        const page = await coupons.coupons(args.first, args.after);
        const edges = page.coupons.map((node) => ({ cursor: encodeCursor(node), node }));
        return { edges, totalCount: page.totalCount, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
      }),
  },
  Mutation: {
    createCoupon: (_: unknown, { input }: { input: CreateCouponInput }, { coupons }: PromotionsContext) =>
      payload(async () => ({ coupon: await coupons.createCoupon(input) })),
    updateCoupon: (_: unknown, { input }: { input: UpdateCouponInput }, { coupons }: PromotionsContext) =>
      payload(async () => ({ coupon: await coupons.updateCoupon(input) })),
    applyCoupon: (_: unknown, { input }: { input: { code: string } }, context: PromotionsContext) =>
      payload(async () => {
        await context.coupons.applyCoupon(callerOf(context), input.code);
        return { cart: cartOf(callerOf(context)) };
      }),
    removeCoupon: (_: unknown, __: unknown, context: PromotionsContext) =>
      payload(async () => {
        await context.coupons.removeCoupon(callerOf(context));
        return { cart: cartOf(callerOf(context)) };
      }),
    reserveCoupon: (_: unknown, { input }: { input: { orderId: string; lines: CheckoutLine[] } }, context: PromotionsContext) =>
      payload(async () => ({ redemption: (await reserve(context, input)).redemption })),
  },
  Coupon: {
    percentOff: (coupon: Coupon) => coupon.percentOff ?? null,
    amountOff: (coupon: Coupon) => (coupon.amountOff == null ? null : { amount: coupon.amountOff, currency: coupon.currency }),
    minimumSubtotal: (coupon: Coupon) => (coupon.minimumSubtotal == null ? null : { amount: coupon.minimumSubtotal, currency: coupon.currency }),
    category: (coupon: Coupon) => (coupon.categoryId ? { id: coupon.categoryId } : null),
    products: (coupon: Coupon) => coupon.productIds.map((id) => ({ id })),
  },
  Cart: {
    /** Prices the cart once for all its fields: the owner's applied coupon over the lines the router sent. */
    __resolveReference: async (cart: CartRef, context: PromotionsContext): Promise<CartRef> => {
      assertMayView(context.identity, cart.owner.id);
      if (!cart.lines || !cart.subtotal) return cart;
      const applied = await context.appliedCoupons.load(cart.owner.id);
      const productIds = cart.lines.map((line) => line.product.id.toLowerCase());
      // Categories matter only to a category-restricted coupon.
      const categories = applied?.categoryId ? await context.categories.loadMany(productIds) : [];
      const lines = cart.lines.map((line, i) => ({ productId: productIds[i]!, categoryId: typeof categories[i] === 'string' ? categories[i] : null, lineTotal: line.lineTotal }));
      return { ...cart, pricing: priceCart(applied, lines, cart.subtotal, new Date()) };
    },
    coupon: (cart: CartRef) => pricingOf(cart).coupon,
    discount: (cart: CartRef) => pricingOf(cart).discount,
    total: (cart: CartRef) => pricingOf(cart).total,
  },
};
