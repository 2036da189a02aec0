/** What cart needs to know about a product before it goes into a cart. */
export interface Availability {
  exists: boolean;
  /** Units that can still be sold; 0 when the product does not exist. */
  availableQuantity: number;
}

/**
 * The port through which cart learns about products it does not own. It rejects when it cannot
 * answer (the owning services are unreachable or failing); it never guesses.
 */
export interface ProductAvailability {
  /** `token` is the caller's access token, so the answer is given on the caller's behalf. */
  lookup(productId: string, token: string | null): Promise<Availability>;
}
