import { runService, type MessageOutcome, type Service, type ServiceDeps } from '@shopgraph/kit';
import { testPaymentGateway } from './clients/test-payment.client.ts';
import { paymentsContext } from './context.ts';
import type { PaymentGateway } from './domain/payment-provider.ts';
import { entities } from './entities/index.ts';
import { sagaHandlers } from './events/saga.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

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
    context: paymentsContext(gateway),
  });
}
