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

/**
 * The port through which orders reads the caller's cart, current prices and payment method from
 * the services that own them. It rejects when it cannot answer in full (unreachable, failing, too
 * slow); it never guesses, so a failure never reads as an empty cart or an unknown method.
 */
export interface CheckoutSource {
  /** `token` is the caller's access token: the cart is the caller's, read on their behalf. */
  load(paymentMethod: string, token: string | null): Promise<Checkout>;
}
