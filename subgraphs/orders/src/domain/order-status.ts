/**
 * The order state machine: the one place that decides which status changes are legal.
 *
 *   PENDING ──► STOCK_RESERVED ──────────────────► CONFIRMED ──► SHIPPED ──► DELIVERED
 *      │               │   └─► UNDER_REVIEW ──────────▲   │         ▲
 *      │               │            ├─► REJECTED          │         └── CANCELLED, if shipping refuses it
 *      │               └────────────┴─► PAYMENT_FAILED    │
 *      └─► OUT_OF_STOCK     (PENDING, STOCK_RESERVED, UNDER_REVIEW, CONFIRMED) ──► CANCELLED
 *
 * UNDER_REVIEW: payments' fraud screening held the payment before any charge; staff approve it
 * (the charge goes ahead: CONFIRMED or PAYMENT_FAILED) or reject it (REJECTED, compensated like a
 * failed payment). The saga timeout leaves it alone: a review waits for a person.
 *
 * Shipping owns whether goods left: a CONFIRMED order cancelled once its shipment was on its way
 * is not cancelled after all. Shipping refuses the cancellation, and the shipment's
 * `shipping.shipment.shipped` moves the order from CANCELLED on to SHIPPED (saga.service.ts).
 *
 * Orders observes events from several topics, which Kafka orders only within a topic: a payment
 * outcome may be seen before the stock reservation that caused it. Payments screens and charges
 * only once stock is reserved, so the saga records the implied reservation first (see
 * saga.service.ts) and the reservation event arriving after it is a late event, ignored like any
 * transition the machine does not allow. Every order's history reads the same whatever the
 * arrival order.
 */
export const OrderStatus = {
  PENDING: 'PENDING',
  STOCK_RESERVED: 'STOCK_RESERVED',
  UNDER_REVIEW: 'UNDER_REVIEW',
  CONFIRMED: 'CONFIRMED',
  SHIPPED: 'SHIPPED',
  DELIVERED: 'DELIVERED',
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  PAYMENT_FAILED: 'PAYMENT_FAILED',
  REJECTED: 'REJECTED',
  CANCELLED: 'CANCELLED',
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

export const ORDER_STATUSES = Object.values(OrderStatus);

const { PENDING, STOCK_RESERVED, UNDER_REVIEW, CONFIRMED, SHIPPED, DELIVERED, OUT_OF_STOCK, PAYMENT_FAILED, REJECTED, CANCELLED } = OrderStatus;

const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  [PENDING]: [STOCK_RESERVED, OUT_OF_STOCK, CANCELLED],
  [STOCK_RESERVED]: [UNDER_REVIEW, CONFIRMED, PAYMENT_FAILED, CANCELLED],
  [UNDER_REVIEW]: [CONFIRMED, PAYMENT_FAILED, REJECTED, CANCELLED],
  [CONFIRMED]: [SHIPPED, CANCELLED],
  [SHIPPED]: [DELIVERED],
  [DELIVERED]: [],
  [OUT_OF_STOCK]: [],
  [PAYMENT_FAILED]: [],
  [REJECTED]: [],
  [CANCELLED]: [SHIPPED],
};

/** Whether an order in `from` may move to `to`; staying in the same status is never a transition. */
export const canTransition = (from: OrderStatus, to: OrderStatus): boolean => TRANSITIONS[from].includes(to);

const FINAL: readonly OrderStatus[] = [DELIVERED, OUT_OF_STOCK, PAYMENT_FAILED, REJECTED, CANCELLED];

/**
 * Statuses the saga ends in (live status subscriptions complete on them). Nothing leaves them but
 * a cancellation shipping refused: CANCELLED → SHIPPED.
 */
export const isFinal = (status: OrderStatus): boolean => FINAL.includes(status);

/** Until the order ships, its customer (or staff) may cancel it. */
export const isCancellable = (status: OrderStatus): boolean => canTransition(status, CANCELLED);

/** Statuses in which the saga is still waiting for inventory or payments; the sweeper times these out. */
export const AWAITING_SAGA: readonly OrderStatus[] = [PENDING, STOCK_RESERVED];
