import type { EntityManager } from '@shopgraph/kit';

export interface Money {
  /** Minor units (cents). */
  amount: number;
  /** ISO 4217. */
  currency: string;
}

export type ChargeResult =
  | { status: 'succeeded'; reference: string }
  | { status: 'declined'; code: string; message: string };

export interface RefundResult {
  status: 'refunded';
  reference: string;
}

/**
 * The port through which payments moves money. Both calls are idempotent by key: a second call
 * with a key already used answers the first call's result and moves no money. Payments charges
 * with the order id as the key (and refunds with `refund:<order id>`), so a saga handler that is
 * retried after a crash, or an event delivered twice, never charges twice.
 *
 * An adapter for a real provider (e.g. Stripe) passes the key as the provider's own idempotency
 * key (`Idempotency-Key` header) and maps its decline codes to `declined`. Failures that say
 * nothing about the outcome (timeouts, 5xx) must throw: the handler is retried with the same key.
 */
export interface PaymentProvider {
  charge(request: { idempotencyKey: string; amount: Money; method: string }): Promise<ChargeResult>;
  /** Refunds a successful charge in full. Throws if the provider refuses (the handler retries, then dead-letters). */
  refund(request: { idempotencyKey: string; reference: string; amount: Money }): Promise<RefundResult>;
}

/** A way to pay, as clients pick it (`placeOrder(input: { paymentMethod })`). */
export interface PaymentMethod {
  id: string;
  description: string;
}

/** A payment provider as the service is configured with it. */
export interface PaymentGateway {
  /** The methods customers can pay with. */
  readonly methods: readonly PaymentMethod[];
  /**
   * The provider for one transaction: `em` is the transaction's EntityManager, so an adapter
   * that keeps records (the test provider's ledger) writes them in the same transaction as the
   * payment's new state and its event.
   */
  bind(em: EntityManager): PaymentProvider;
}
