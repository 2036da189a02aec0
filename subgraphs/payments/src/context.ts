import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import type { PaymentGateway } from './domain/payment-provider.ts';
import { PaymentService } from './domain/payment.service.ts';
import { ScreeningService } from './domain/screening.service.ts';
import type { Payment, ScreeningDecision } from './entities/index.ts';

export interface PaymentsContext extends RequestContext {
  gateway: PaymentGateway;
  payments: PaymentService;
  screening: ScreeningService;
  /** Batches the payment lookups of one request (Order references), by order id. */
  paymentsByOrder: DataLoader<string, Payment | null>;
  /** Batches the screening lookups of one request (Order references), by order id. */
  screeningsByOrder: DataLoader<string, ScreeningDecision | null>;
}

export const paymentsContext =
  (gateway: PaymentGateway) =>
  ({ identity, em }: RequestInput<unknown>): PaymentsContext => {
    const payments = new PaymentService(em, gateway);
    const screening = new ScreeningService(em);
    return {
      identity,
      gateway,
      payments,
      screening,
      paymentsByOrder: batchLoader((orderIds) => payments.forOrders(orderIds), null),
      screeningsByOrder: batchLoader((orderIds) => screening.forOrders(orderIds), null),
    };
  };
