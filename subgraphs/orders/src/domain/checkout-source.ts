/** A price: integer minor units of an ISO 4217 currency. */
export interface Money {
  amount: number;
  currency: string;
}

/** What the caller is about to buy, as the services that own it see it now. */
export interface Checkout {
  /** The cart's lines in cart order, priced by catalog. */
  lines: { productId: string; quantity: number; unitPrice: Money }[];
  /** Whether payments knows the chosen payment method. */
  paymentMethodExists: boolean;
}

/** One use of the coupon on the caller's cart, reserved by promotions for an order. */
export interface CouponReservation {
  code: string;
  /** What it takes off the lines' sum. */
  discount: Money;
}

/**
 * The port through which orders reads the caller's cart, current prices and payment method from
 * the services that own them. It rejects when it cannot answer in full (unreachable, failing, too
 * slow); it never guesses, so a failure never reads as an empty cart or an unknown method.
 */
export interface CheckoutSource {
  /** `token` is the caller's access token: the cart is the caller's, read on their behalf. */
  load(paymentMethod: string, token: string | null): Promise<Checkout>;
  /**
   * Reserves one use of the coupon the caller applied to their cart for order `orderId`, priced as
   * `lines`; null when no coupon is applied. Repeating it for one order id reserves nothing more.
   * Rejects with a DomainError when the coupon no longer applies (the customer's to fix), and with
   * any other error when promotions cannot answer.
   */
  reserveCoupon(orderId: string, lines: Checkout['lines'], token: string | null): Promise<CouponReservation | null>;
}
