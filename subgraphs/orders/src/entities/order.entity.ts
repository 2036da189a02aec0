import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { ORDER_STATUSES } from '../domain/order-status.ts';

/** A shipping address as the customer gave it (validated, trimmed; `country` ISO 3166-1 alpha-2). */
export interface Address {
  name: string;
  line1: string;
  line2: string | null;
  city: string;
  postalCode: string;
  country: string;
}

/**
 * An order: the cart's lines at the prices of the moment it was placed, and where the checkout
 * saga has taken it. `status`/`statusVersion` mirror the latest `order_status_change`.
 * ("order" is an SQL keyword, hence the table name.)
 */
export const Order = defineEntity({
  name: 'Order',
  tableName: 'customer_order',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    status: p.enum(ORDER_STATUSES),
    statusVersion: p.integer().check('status_version > 0'),
    /** When the status last changed; the stuck-saga sweeper measures its timeout from here. */
    statusChangedAt: p.datetime(),
    idempotencyKey: p.string().length(100),
    /** What the customer is charged: the lines' sum less `discountAmount`. */
    totalAmount: p.integer().check('total_amount >= 0'),
    totalCurrency: p.string().length(3),
    /** The coupon promotions reserved for the order, and what it took off (both or neither). */
    couponCode: p.string().length(32).nullable(),
    discountAmount: p.integer().nullable().check('discount_amount > 0'),
    paymentMethod: p.string(),
    shippingAddress: p.json<Address>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  // The guard that makes placeOrder idempotent, also under concurrency.
  uniques: [{ name: 'customer_order_user_id_idempotency_key_unique', properties: ['userId', 'idempotencyKey'] }],
  indexes: [
    // A customer's orders, newest first (keyset paging).
    { name: 'customer_order_user_id_created_at_id_index', properties: ['userId', 'createdAt', 'id'] },
    // The sweeper's scan for stuck sagas.
    { name: 'customer_order_status_status_changed_at_index', properties: ['status', 'statusChangedAt'] },
  ],
});
export type Order = InferEntity<typeof Order>;
