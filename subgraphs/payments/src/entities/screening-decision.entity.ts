import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import type { FraudRuleKind } from './fraud-rule.entity.ts';

/**
 * REVIEW: held, waiting for staff. APPROVED (charged) and REJECTED (never charged) are staff's
 * decisions; CANCELLED: the order was cancelled while held (the payment was voided).
 */
export const SCREENING_DECISIONS = ['REVIEW', 'APPROVED', 'REJECTED', 'CANCELLED'] as const;
export type ScreeningDecisionValue = (typeof SCREENING_DECISIONS)[number];

/** A rule as it was when it fired (renaming or changing it later does not rewrite history). */
export interface FiredRule {
  ruleId: string;
  name: string;
  kind: FraudRuleKind;
}

/**
 * Fraud screening's verdict on one order, written only when a rule fired (an order that cleared
 * screening has no row: the common case costs no write). One row per order (the key), so a
 * screening can never be recorded twice.
 */
export const ScreeningDecision = defineEntity({
  name: 'ScreeningDecision',
  properties: {
    orderId: p.uuid().primary(),
    paymentId: p.uuid(),
    decision: p.enum(SCREENING_DECISIONS),
    rules: p.json<FiredRule[]>(),
    screenedAt: p.datetime(),
    /** When staff decided (or the order was cancelled); null while in REVIEW. */
    decidedAt: p.datetime().nullable(),
    /** The staff user who decided; null while in REVIEW and for a cancellation. */
    reviewerId: p.uuid().nullable(),
    /** Staff's reason for a rejection. */
    reason: p.text().nullable(),
  },
  indexes: [
    // ordersInReview: the held orders, oldest first.
    { name: 'screening_decision_in_review_index', properties: ['screenedAt', 'orderId'], where: `decision = 'REVIEW'` },
  ],
});
export type ScreeningDecision = InferEntity<typeof ScreeningDecision>;
