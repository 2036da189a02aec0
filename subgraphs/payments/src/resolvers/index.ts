import type { GraphQLResolverMap } from '@shopgraph/kit';
import { amountOf, canView, isShowable, type ShownPayment } from '../domain/payment.service.ts';
import type { PaymentsContext } from '../context.ts';

export const resolvers: GraphQLResolverMap<PaymentsContext> = {
  Query: {
    paymentMethod: (_: unknown, { id }: { id: string }, { gateway }: PaymentsContext) => gateway.methods.find((method) => method.id === id) ?? null,
    paymentMethods: (_: unknown, __: unknown, { gateway }: PaymentsContext) => gateway.methods,
  },
  Order: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    // Someone else's payment reads as none, like an order without one: ids cannot be probed.
    payment: async ({ id }: { id: string }, _: unknown, { identity, paymentsByOrder }: PaymentsContext) => {
      const payment = await paymentsByOrder.load(id);
      return payment && isShowable(payment) && canView(identity, payment) ? payment : null;
    },
  },
  Payment: {
    amount: (payment: ShownPayment) => amountOf(payment),
  },
};
