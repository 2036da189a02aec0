import { runService, type MessageOutcome, type RequestContext, type Service, type ServiceDeps } from '@shopgraph/kit';
import DataLoader from 'dataloader';
import type { PaymentGateway } from './domain/payment-provider.ts';
import { PaymentService } from './domain/payment.service.ts';
import { entities, type Payment } from './entities/index.ts';
import { sagaHandlers } from './events/index.ts';
import { migrations } from './migrations/index.ts';
import { testPaymentGateway } from './providers/test-payment.provider.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface PaymentsContext extends RequestContext {
  gateway: PaymentGateway;
  /** Batches the payment lookups of one request (Order references), by order id. */
  paymentsByOrder: DataLoader<string, Payment | null>;
}

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the saga consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
  /** The payment provider; defaults to the built-in test provider. */
  gateway?: PaymentGateway;
}

export function createPaymentsApp({ config, logger, verifier, onMessage, gateway = testPaymentGateway }: Deps): Promise<Service> {
  return runService({
    name: 'payments',
    config,
    logger,
    verifier,
    schema: new URL('../schema.graphql', import.meta.url),
    resolvers,
    entities,
    migrations,
    consumers: { saga: sagaHandlers(gateway) },
    onMessage,
    context: ({ identity, em }): PaymentsContext => {
      const payments = new PaymentService(em, gateway);
      const paymentsByOrder = new DataLoader<string, Payment | null>(async (orderIds) => {
        const found = await payments.forOrders(orderIds);
        return orderIds.map((id) => found.get(id.toLowerCase()) ?? null);
      });
      return { identity, gateway, paymentsByOrder };
    },
  });
}
