import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * The built-in test provider's own ledger: one row per idempotency key (a charge or a refund
 * request), written the first time the key is seen. A real provider keeps this on its side; here
 * it makes "charged exactly once" checkable.
 */
export const TestProviderCharge = defineEntity({
  name: 'TestProviderCharge',
  properties: {
    idempotencyKey: p.string().primary(),
    kind: p.enum(['charge', 'refund'] as const),
    amount: p.integer().check('amount >= 0'),
    currency: p.string().length(3),
    outcome: p.enum(['succeeded', 'declined'] as const),
    /** Why a charge was declined (`card_declined`, `insufficient_funds`, ...); null when it succeeded. */
    declineCode: p.string().nullable(),
    /** The provider's id of a successful charge or refund. */
    reference: p.string().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type TestProviderCharge = InferEntity<typeof TestProviderCharge>;
