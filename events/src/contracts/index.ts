import { z } from 'zod';
import { address, id, money, orderStatus } from './shared.ts';

/**
 * One entry per event type: its topic (`<context>.<aggregate>.v<major>`), the version of its
 * data schema, and the schema. Only backward-compatible changes (new optional fields) keep a
 * dataVersion; anything else is a new dataVersion, and events/test checks the samples of every
 * version still parse.
 */
export const contracts = {
  'account.user.registered': {
    topic: 'account.user.v1',
    dataVersion: 1,
    schema: z.object({ userId: id, email: z.string(), name: z.string() }),
  },
  'catalog.product.changed': {
    topic: 'catalog.product.v1',
    dataVersion: 1,
    schema: z.object({ productId: id, sku: z.string(), name: z.string(), description: z.string(), price: money, categoryId: id.nullable() }),
  },
  'orders.order.placed': {
    topic: 'orders.order.v1',
    dataVersion: 1,
    schema: z.object({
      orderId: id,
      userId: id,
      lines: z.array(z.object({ productId: id, quantity: z.number().int().positive(), unitPrice: money })).min(1),
      total: money,
      paymentMethod: z.string(),
      shippingAddress: address,
      /**
       * The coupon promotions reserved for this order (redemption id = order id) and what it took
       * off; `total` is after the discount and is what payments charges. Absent without a coupon.
       */
      coupon: z.object({ code: z.string(), discount: money }).optional(),
    }),
  },
  'orders.order.status-changed': {
    topic: 'orders.order.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, userId: id, version: z.number().int().positive(), status: orderStatus, reason: z.string().nullable(), at: z.iso.datetime({ offset: true }) }),
  },
  'orders.order.cancelled': {
    topic: 'orders.order.v1',
    dataVersion: 1,
    schema: z.object({
      orderId: id,
      userId: id,
      reason: z.string(),
      /**
       * The status the order was cancelled from. CONFIRMED means a shipment exists, and shipping
       * decides whether the cancellation stands (`shipping.shipment.cancelled`) or comes too late
       * (the goods left: `shipping.shipment.shipped`); absent in events recorded before the field.
       */
      previousStatus: orderStatus.optional(),
    }),
  },
  'inventory.stock.reserved': {
    topic: 'inventory.stock.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, lines: z.array(z.object({ productId: id, quantity: z.number().int().positive() })) }),
  },
  'inventory.stock.rejected': {
    topic: 'inventory.stock.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, reason: z.string(), shortages: z.array(z.object({ productId: id, requested: z.number().int(), available: z.number().int() })) }),
  },
  'inventory.stock.released': {
    topic: 'inventory.stock.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, reason: z.string() }),
  },
  'inventory.stock.level-changed': {
    topic: 'inventory.stock.v1',
    dataVersion: 1,
    /**
     * A product's stock as a change left it, keyed by product id (its subject). Recorded by every
     * staff count (setStock, adjustStock) and whenever the saga flips `inStock`; not by every
     * reservation, so `availableQuantity` is the figure at that moment, not a running one.
     */
    schema: z.object({ productId: id, availableQuantity: z.number().int().nonnegative(), inStock: z.boolean() }),
  },
  'inventory.stock.low': {
    topic: 'inventory.stock.v1',
    dataVersion: 1,
    /**
     * A product's available quantity fell below its low-stock threshold, keyed by product id (its
     * subject): once per crossing, i.e. only when a change takes it from at or above the threshold
     * to below it; it is recorded again only after the stock has been back at or above.
     */
    schema: z.object({ productId: id, availableQuantity: z.number().int().nonnegative(), threshold: z.number().int().positive() }),
  },
  'payments.payment.succeeded': {
    topic: 'payments.payment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, paymentId: id, amount: money }),
  },
  'payments.payment.failed': {
    topic: 'payments.payment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, paymentId: id, amount: money, code: z.string(), reason: z.string() }),
  },
  'payments.payment.review-required': {
    topic: 'payments.payment.v1',
    dataVersion: 1,
    /**
     * Fraud screening held the payment before any charge: staff approve it (the charge goes ahead)
     * or reject it (`payments.payment.rejected`). `rules` are the rules that fired.
     */
    schema: z.object({ orderId: id, paymentId: id, amount: money, rules: z.array(z.object({ ruleId: id, name: z.string(), kind: z.string() })).min(1) }),
  },
  'payments.payment.rejected': {
    topic: 'payments.payment.v1',
    dataVersion: 1,
    /** Staff rejected an order held by fraud screening; nothing was charged. Compensated like a failed payment. */
    schema: z.object({ orderId: id, paymentId: id, amount: money, reason: z.string() }),
  },
  'payments.payment.refunded': {
    topic: 'payments.payment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, paymentId: id, amount: money }),
  },
  'shipping.shipment.created': {
    topic: 'shipping.shipment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, shipmentId: id, trackingNumber: z.string() }),
  },
  'shipping.shipment.shipped': {
    topic: 'shipping.shipment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, shipmentId: id, trackingNumber: z.string(), at: z.iso.datetime({ offset: true }) }),
  },
  'shipping.shipment.cancelled': {
    topic: 'shipping.shipment.v1',
    dataVersion: 1,
    /** The shipment stopped before it left, because its order was cancelled (`reason`: the order's). */
    schema: z.object({ orderId: id, shipmentId: id, trackingNumber: z.string(), reason: z.string(), at: z.iso.datetime({ offset: true }) }),
  },
  'shipping.shipment.delivered': {
    topic: 'shipping.shipment.v1',
    dataVersion: 1,
    schema: z.object({ orderId: id, shipmentId: id, trackingNumber: z.string(), at: z.iso.datetime({ offset: true }) }),
  },
  'promotions.redemption.committed': {
    topic: 'promotions.redemption.v1',
    dataVersion: 1,
    /** A coupon's use by an order became final: the order was confirmed. Keyed by order id (the redemption's id). */
    schema: z.object({ orderId: id, userId: id, couponId: id, code: z.string(), discount: money }),
  },
  'promotions.redemption.released': {
    topic: 'promotions.redemption.v1',
    dataVersion: 1,
    /** A reserved or committed use went back to the coupon: the order failed, was cancelled or was never placed. */
    schema: z.object({ orderId: id, userId: id, couponId: id, code: z.string(), reason: z.string() }),
  },
  'reviews.product.rated': {
    topic: 'reviews.product.v1',
    dataVersion: 1,
    /**
     * A product's rating as a review change left it, keyed by product id (its subject): the mean
     * of its visible reviews (null when there are none) and how many there are. Absolute figures,
     * so the latest event is the whole truth.
     */
    schema: z.object({ productId: id, average: z.number().min(1).max(5).nullable(), count: z.number().int().nonnegative() }),
  },
} as const;

export type Contracts = typeof contracts;
export type EventType = keyof Contracts;
export type EventData<T extends EventType> = z.infer<Contracts[T]['schema']>;

/** A topic's bounded context: `<context>.<aggregate>.v<major>` → `<context>`. */
type ContextOf<T extends string> = T extends `${infer C}.${string}` ? C : never;
export type Context = ContextOf<Contracts[EventType]['topic']>;

/**
 * The service that records each context's events: the one writer of the context's topics and the
 * `source` of every event on them (kit's recordEvent signs with the service's name). A consumer
 * refuses an event on a topic from anyone else; the prod Kafka ACLs grant Write the same way.
 */
export const owners = {
  account: 'accounts',
  catalog: 'catalog',
  inventory: 'inventory',
  orders: 'orders',
  payments: 'payments',
  promotions: 'promotions',
  reviews: 'reviews',
  shipping: 'shipping',
} as const satisfies Record<Context, string>;
