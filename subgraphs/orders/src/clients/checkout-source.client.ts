import { queryGraph, type GraphClientOptions } from '@shopgraph/kit';
import type { Checkout, CheckoutSource, Money } from '../domain/checkout-source.ts';

export const CHECKOUT_QUERY =
  'query Checkout($pm: ID!) { cart { lines { product { id } quantity unitPrice { amount currency } } subtotal { amount currency } } paymentMethod(id: $pm) { id } }';

type Data = {
  cart?: { lines: { product: { id: string }; quantity: number; unitPrice: Money }[]; subtotal: Money } | null;
  paymentMethod?: { id: string } | null;
};

const isMoney = (m: unknown): m is Money =>
  typeof m === 'object' && m !== null && Number.isSafeInteger((m as Money).amount) && typeof (m as Money).currency === 'string';

/**
 * Reads the checkout from the supergraph on behalf of the caller: cart says what is in the cart,
 * catalog prices it, payments says whether the payment method exists. Anything short of a complete
 * answer rejects (a failing payments subgraph nulls paymentMethod; that is not "no such method").
 */
export function graphCheckoutSource(options: GraphClientOptions): CheckoutSource {
  return {
    async load(paymentMethod, token): Promise<Checkout> {
      const data = await queryGraph<Data>(options, 'Checkout lookup', { query: CHECKOUT_QUERY, operationName: 'Checkout', variables: { pm: paymentMethod } }, token);
      if (data.cart === undefined || data.paymentMethod === undefined) throw new Error('Checkout lookup answered without cart or paymentMethod');
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
