import { postGraphQL, type GraphQLResponseBody, type Logger } from '@shopgraph/kit';
import type { Checkout, CheckoutSource, Money } from '../domain/checkout-source.ts';

export const CHECKOUT_QUERY =
  'query Checkout($pm: ID!) { cart { lines { product { id } quantity unitPrice { amount currency } } subtotal { amount currency } } paymentMethod(id: $pm) { id } }';

type Response = GraphQLResponseBody<{
  cart?: { lines: { product: { id: string }; quantity: number; unitPrice: Money }[]; subtotal: Money } | null;
  paymentMethod?: { id: string } | null;
}>;

const isMoney = (m: unknown): m is Money =>
  typeof m === 'object' && m !== null && Number.isSafeInteger((m as Money).amount) && typeof (m as Money).currency === 'string';

/**
 * Reads the checkout from the supergraph (through the router) on behalf of the caller: cart says
 * what is in the cart, catalog prices it, payments says whether the payment method exists. Any
 * answer short of complete (router down, timeout, a subgraph's error) rejects.
 */
export function graphCheckoutSource(options: { url: string; timeoutMs: number; logger: Logger }): CheckoutSource {
  const { url, timeoutMs, logger } = options;
  return {
    async load(paymentMethod, token): Promise<Checkout> {
      let body: Response;
      try {
        body = await postGraphQL(url, { query: CHECKOUT_QUERY, operationName: 'Checkout', variables: { pm: paymentMethod } }, { token, timeoutMs });
      } catch (error) {
        logger.warn({ err: error, url }, 'checkout lookup failed');
        throw new Error('Checkout lookup failed', { cause: error });
      }
      const data = body.data;
      // A failing payments subgraph nulls paymentMethod; that is not "no such payment method".
      if (body.errors?.length || !data || data.cart === undefined || data.paymentMethod === undefined) {
        logger.warn({ errors: body.errors, url }, 'checkout lookup answered with errors');
        throw new Error(`Checkout lookup answered with errors: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
      }
      const lines = (data.cart?.lines ?? []).map((line) => {
        if (typeof line?.product?.id !== 'string' || !Number.isSafeInteger(line.quantity) || !isMoney(line.unitPrice)) {
          throw new Error('Checkout lookup answered with a malformed cart line');
        }
        return { productId: line.product.id, quantity: line.quantity, unitPrice: { amount: line.unitPrice.amount, currency: line.unitPrice.currency } };
      });
      return { lines, paymentMethodExists: data.paymentMethod !== null };
    },
  };
}
