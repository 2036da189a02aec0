import { DateTimeScalar, payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { canView } from '../domain/shipping.service.ts';
import type { ShippingContext } from '../context.ts';

export const resolvers: GraphQLResolverMap<ShippingContext> = {
  DateTime: DateTimeScalar,
  Mutation: {
    markShipped: (_: unknown, { input }: { input: { orderId: string } }, { shipping }: ShippingContext) =>
      payload(async () => ({ shipment: await shipping.markShipped(input.orderId) })),
    markDelivered: (_: unknown, { input }: { input: { orderId: string } }, { shipping }: ShippingContext) =>
      payload(async () => ({ shipment: await shipping.markDelivered(input.orderId) })),
  },
  Order: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    // Someone else's shipment reads as none, like an order without one: ids cannot be probed.
    shipment: async ({ id }: { id: string }, _: unknown, { identity, shipmentsByOrder }: ShippingContext) => {
      const shipment = await shipmentsByOrder.load(id);
      return shipment && canView(identity, shipment) ? shipment : null;
    },
  },
};
