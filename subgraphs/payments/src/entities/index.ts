import { messagingEntities } from '@shopgraph/kit';
import { FraudRule } from './fraud-rule.entity.ts';
import { Payment } from './payment.entity.ts';
import { ScreeningDecision } from './screening-decision.entity.ts';
import { TestProviderCharge } from './test-provider-charge.entity.ts';

export { FraudRule, Payment, ScreeningDecision, TestProviderCharge };
export { PAYMENT_STATUSES, type PaymentStatus } from './payment.entity.ts';
export { FRAUD_RULE_KINDS, type FraudRuleKind } from './fraud-rule.entity.ts';
export { SCREENING_DECISIONS, type FiredRule, type ScreeningDecisionValue } from './screening-decision.entity.ts';
/** Payments' own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const domainEntities = [Payment, TestProviderCharge, FraudRule, ScreeningDecision];
export const entities = [...domainEntities, ...messagingEntities];
