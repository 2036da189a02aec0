import { DateTimeScalar, ErrorCode, graphqlError, payload, type GraphQLResolverMap, type Identity } from '@shopgraph/kit';
import type { StatusChange } from '../domain/live/live-status.ts';
import { canView, encodeCursor, type PlaceOrderInput } from '../domain/orders.service.ts';
import type { Order } from '../entities/order.entity.ts';
import type { OrderLine } from '../entities/order-line.entity.ts';
import type { OrderStatusChange } from '../entities/order-status-change.entity.ts';
import type { OrdersContext } from '../context.ts';

/** The signed-in caller (the kit has enforced `@authenticated` on the field being resolved). */
const viewer = ({ identity }: OrdersContext): Identity => {
  if (!identity) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Sign in to see orders');
  return identity;
};

/** An order the caller may see; anyone else's answers null, exactly like an unknown id. */
async function visibleOrder(id: string, context: OrdersContext): Promise<Order | null> {
  if (!context.identity) return null;
  const order = await context.orders.load(id);
  return order && canView(context.identity, order.userId) ? order : null;
}

export const resolvers: GraphQLResolverMap<OrdersContext> = {
  DateTime: DateTimeScalar,
  Query: {
    order: (_: unknown, { id }: { id: string }, context: OrdersContext) => visibleOrder(id, context),
  },
  Subscription: {
    orderStatusChanged: {
      subscribe: (_: unknown, { orderId, after }: { orderId: string; after?: number | null }, context: OrdersContext) => context.live.follow(context.identity, orderId, after),
      // Each event runs with a context of its own (the caller's identity as of now): checked again.
      resolve: (change: StatusChange, _: unknown, context: OrdersContext) => {
        if (!canView(context.identity, change.userId)) throw graphqlError(ErrorCode.FORBIDDEN, 'An order\'s status is visible only to its owner and staff');
        return { version: change.version, status: change.status, reason: change.reason, at: change.at, order: { id: change.orderId } };
      },
    },
  },
  Mutation: {
    placeOrder: (_: unknown, { input }: { input: PlaceOrderInput }, context: OrdersContext) =>
      payload(async () => {
        const { order, written } = await context.service.placeOrder(viewer(context), input, context.token);
        // The answer shows what the transaction wrote: not read back.
        if (written) {
          context.lines.prime(order.id, written.lines);
          context.history.prime(order.id, written.history);
        }
        return { order };
      }),
    cancelOrder: (_: unknown, { input }: { input: { orderId: string } }, context: OrdersContext) =>
      payload(async () => ({ order: await context.service.cancelOrder(viewer(context), input) })),
  },
  Order: {
    __resolveReference: ({ id }: { id: string }, context: OrdersContext) => visibleOrder(id, context),
    total: (order: Order) => ({ amount: order.totalAmount, currency: order.totalCurrency }),
    coupon: (order: Order) => order.couponCode ?? null,
    discount: (order: Order) => (order.discountAmount == null ? null : { amount: order.discountAmount, currency: order.totalCurrency }),
    lines: (order: Order, _: unknown, context: OrdersContext) => context.lines.load(order.id),
    statusHistory: (order: Order, _: unknown, context: OrdersContext) => context.history.load(order.id),
  },
  OrderLine: {
    product: (line: OrderLine) => ({ id: line.productId }),
    unitPrice: (line: OrderLine) => ({ amount: line.unitPriceAmount, currency: line.unitPriceCurrency }),
    lineTotal: (line: OrderLine) => ({ amount: line.unitPriceAmount * line.quantity, currency: line.unitPriceCurrency }),
  },
  OrderStatusChange: {
    order: async (change: OrderStatusChange, _: unknown, context: OrdersContext) => {
      const order = await visibleOrder(change.order.id, context);
      if (!order) throw graphqlError(ErrorCode.FORBIDDEN, 'An order is visible only to its owner and staff');
      return order;
    },
  },
  User: {
    orders: async (user: { id: string }, args: { first: number; after?: string | null }, context: OrdersContext) => {
      if (!canView(viewer(context), user.id)) throw graphqlError(ErrorCode.FORBIDDEN, 'Orders are visible only to their owner and staff');
      const page = await context.service.ordersOf(user.id, args.first, args.after);
      const edges = page.orders.map((node) => {
        context.orders.prime(node.id, node);
        return { cursor: encodeCursor(node), node };
      });
      return { edges, totalCount: page.totalCount, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
  },
};
