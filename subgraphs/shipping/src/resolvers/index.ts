import { payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { canView } from '../domain/shipping.service.ts';
import type { ShippingContext } from '../context.ts';

/** ISO-8601 with offset on the wire; Date inside. */
const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 date and time with offset');
  return date;
}

export const resolvers: GraphQLResolverMap<ShippingContext> = {
  DateTime,
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
