import { messagingEntities } from '@shopgraph/kit';
import { Payment } from './payment.entity.ts';
import { TestProviderCharge } from './test-provider-charge.entity.ts';

export { Payment, TestProviderCharge };
export { PAYMENT_STATUSES, type PaymentStatus } from './payment.entity.ts';
/** Payments' own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const domainEntities = [Payment, TestProviderCharge];
export const entities = [...domainEntities, ...messagingEntities];
