import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const FRAUD_RULE_KINDS = ['CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'AMOUNT_OVER', 'SHIPPING_COUNTRY'] as const;
export type FraudRuleKind = (typeof FRAUD_RULE_KINDS)[number];

/**
 * A staff-configured fraud screening rule; every enabled one is checked right before a charge.
 * Only the thresholds of its kind are set: velocity kinds `max_orders` within `window_seconds`,
 * AMOUNT_OVER `amount` + `currency`, SHIPPING_COUNTRY `countries` (ISO alpha-2, upper-case).
 */
export const FraudRule = defineEntity({
  name: 'FraudRule',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(100),
    kind: p.enum(FRAUD_RULE_KINDS),
    enabled: p.boolean(),
    maxOrders: p.integer().nullable(),
    windowSeconds: p.integer().nullable(),
    amount: p.integer().nullable(),
    currency: p.string().length(3).nullable(),
    countries: p.array().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  checks: [
    // A rule always has the thresholds its kind reads: the screening never meets a half-made one.
    { name: 'fraud_rule_velocity_check', expression: `kind in ('AMOUNT_OVER', 'SHIPPING_COUNTRY') or (max_orders is not null and max_orders >= 1 and window_seconds is not null and window_seconds >= 1)` },
    { name: 'fraud_rule_amount_check', expression: `kind in ('CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'SHIPPING_COUNTRY') or (amount is not null and amount >= 0 and currency is not null)` },
    { name: 'fraud_rule_countries_check', expression: `kind in ('CUSTOMER_VELOCITY', 'CARD_VELOCITY', 'AMOUNT_OVER') or (countries is not null and cardinality(countries) >= 1)` },
  ],
});
export type FraudRule = InferEntity<typeof FraudRule>;
