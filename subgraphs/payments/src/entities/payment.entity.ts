import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** UNDER_REVIEW: fraud screening held it before the charge, until staff approve (charged) or reject it (REJECTED, never charged). */
export const PAYMENT_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED', 'CANCELLED', 'UNDER_REVIEW', 'REJECTED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * The payment of one order. `order_id` is unique and is the idempotency key of the charge: one
 * order is charged at most once, however often its events arrive. The row starts from whichever
 * saga event comes first: `orders.order.placed` fills the order's part (user, amount, method),
 * `inventory.stock.reserved` sets `stock_reserved`; so user, amount and method stay null while
 * only the reservation is known. `user_id` and `method` are indexed with `created_at` for fraud
 * screening's velocity counts (intents per customer / per payment method within a window).
 */
export const Payment = defineEntity({
  name: 'Payment',
  properties: {
    id: p.uuid().primary(),
    orderId: p.uuid().unique(),
    userId: p.uuid().nullable(),
    amount: p.integer().nullable().check('amount >= 0'),
    currency: p.string().length(3).nullable(),
    method: p.string().nullable(),
    /** ISO alpha-2 country the order ships to (from `orders.order.placed`), for screening. */
    shippingCountry: p.string().length(2).nullable(),
    status: p.enum(PAYMENT_STATUSES).default('PENDING'),
    failureCode: p.string().nullable(),
    failureReason: p.text().nullable(),
    /** The provider's id of the charge, once charged; refunds name it. */
    providerReference: p.string().nullable(),
    stockReserved: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  indexes: [
    { name: 'payment_user_id_created_at_index', properties: ['userId', 'createdAt'] },
    { name: 'payment_method_created_at_index', properties: ['method', 'createdAt'] },
  ],
  checks: [
    // Nothing is charged without knowing what to charge, and a charge that went through has the provider's reference.
    {
      name: 'payment_charged_with_order_check',
      expression: `status in ('PENDING', 'CANCELLED') or (user_id is not null and amount is not null and currency is not null and method is not null)`,
    },
    { name: 'payment_captured_with_reference_check', expression: `status in ('PENDING', 'FAILED', 'CANCELLED', 'UNDER_REVIEW', 'REJECTED') or provider_reference is not null` },
  ],
});
export type Payment = InferEntity<typeof Payment>;
