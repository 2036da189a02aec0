import { DateTimeScalar, payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { amountOf, canView, isShowable, isStaff, type ShownPayment } from '../domain/payment.service.ts';
import { encodeCursor, type CreateFraudRuleInput, type UpdateFraudRuleInput } from '../domain/screening.service.ts';
import type { FraudRule, ScreeningDecision } from '../entities/index.ts';
import type { PaymentsContext } from '../context.ts';

/** The signed-in staff member (`@requiresScopes` has let only staff through). */
const reviewerOf = ({ identity }: PaymentsContext): string => identity!.userId;

/** A staff decision answers with the order as a reference: its status, payment and screening resolve through the graph. */
const orderOf = (payment: { orderId: string }) => ({ order: { id: payment.orderId } });

export const resolvers: GraphQLResolverMap<PaymentsContext> = {
  DateTime: DateTimeScalar,
  Query: {
    paymentMethod: (_: unknown, { id }: { id: string }, { gateway }: PaymentsContext) => gateway.methods.find((method) => method.id === id) ?? null,
    paymentMethods: (_: unknown, __: unknown, { gateway }: PaymentsContext) => gateway.methods,
    fraudRules: (_: unknown, __: unknown, { screening }: PaymentsContext) => screening.rules(),
    ordersInReview: async (_: unknown, args: { first: number; after?: string | null }, { screening }: PaymentsContext) => {
      const page = await screening.inReview(args.first, args.after);
      const edges = page.decisions.map((decision) => ({ cursor: encodeCursor(decision), node: { id: decision.orderId } }));
      return { edges, totalCount: page.totalCount, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
  },
  Mutation: {
    createFraudRule: (_: unknown, { input }: { input: CreateFraudRuleInput }, { screening }: PaymentsContext) =>
      payload(async () => ({ rule: await screening.createRule(input) })),
    updateFraudRule: (_: unknown, { input }: { input: UpdateFraudRuleInput }, { screening }: PaymentsContext) =>
      payload(async () => ({ rule: await screening.updateRule(input) })),
    approveOrder: (_: unknown, { input }: { input: { orderId: string } }, context: PaymentsContext) =>
      payload(async () => orderOf(await context.payments.approveHeld(input.orderId, reviewerOf(context)))),
    rejectOrder: (_: unknown, { input }: { input: { orderId: string; reason: string } }, context: PaymentsContext) =>
      payload(async () => orderOf(await context.payments.rejectHeld(input.orderId, reviewerOf(context), input.reason))),
  },
  Order: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    // Someone else's payment reads as none, like an order without one: ids cannot be probed.
    payment: async ({ id }: { id: string }, _: unknown, { identity, paymentsByOrder }: PaymentsContext) => {
      const payment = await paymentsByOrder.load(id);
      return payment && isShowable(payment) && canView(identity, payment) ? payment : null;
    },
    // Staff only; null for anyone else: which rules fired and who decided are staff matters.
    screening: ({ id }: { id: string }, _: unknown, { identity, screeningsByOrder }: PaymentsContext) => (isStaff(identity) ? screeningsByOrder.load(id) : null),
  },
  Payment: {
    amount: (payment: ShownPayment) => amountOf(payment),
  },
  FraudRule: {
    amount: (rule: FraudRule) => (rule.amount == null ? null : { amount: rule.amount, currency: rule.currency }),
  },
  FraudScreening: {
    rulesFired: (decision: ScreeningDecision) => decision.rules,
    reviewer: (decision: ScreeningDecision) => (decision.reviewerId ? { id: decision.reviewerId } : null),
  },
};
