import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import type { PaymentGateway } from './domain/payment-provider.ts';
import { PaymentService } from './domain/payment.service.ts';
import type { Payment } from './entities/index.ts';

export interface PaymentsContext extends RequestContext {
  gateway: PaymentGateway;
  /** Batches the payment lookups of one request (Order references), by order id. */
  paymentsByOrder: DataLoader<string, Payment | null>;
}

export const paymentsContext =
  (gateway: PaymentGateway) =>
  ({ identity, em }: RequestInput<unknown>): PaymentsContext => {
    const payments = new PaymentService(em, gateway);
    return { identity, gateway, paymentsByOrder: batchLoader((orderIds) => payments.forOrders(orderIds), null) };
  };
