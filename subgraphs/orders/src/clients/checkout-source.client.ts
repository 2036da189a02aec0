import { DomainError, queryGraph, type GraphQLRequest, type Logger } from '@shopgraph/kit';
import type { Checkout, CheckoutSource, CouponReservation, Money } from '../domain/checkout-source.ts';

export const CART_QUERY = 'query CheckoutCart { cart { lines { id product { id } quantity } } }';
/**
 * The price the customer sees on each cart line is catalog's `CartLine.unitPrice`, resolved from
 * the line's entity representation (`@requires(fields: "product { id }")`): asked for exactly as
 * the router asks when it shows the cart, so the order is charged what the cart showed.
 */
export const PRICES_QUERY = 'query CheckoutPrices($lines: [_Any!]!) { _entities(representations: $lines) { ... on CartLine { unitPrice { amount currency } } } }';
export const PAYMENT_METHOD_QUERY = 'query CheckoutPaymentMethod($id: ID!) { paymentMethod(id: $id) { id } }';
/** Promotions' internal (`@inaccessible`) mutation: one use of the caller's applied coupon, held for the order. */
export const RESERVE_COUPON_MUTATION =
  'mutation CheckoutReserveCoupon($input: ReserveCouponInput!) { reserveCoupon(input: $input) { redemption { code discount { amount currency } } errors { code message } } }';

export interface SubgraphCheckoutSourceOptions {
  /** GraphQL URLs of the subgraphs that own each part of a checkout. */
  urls: { cart: string; catalog: string; payments: string; promotions: string };
  /** For the whole load, the cart and then its prices included. */
  timeoutMs: number;
  /** How long a payment method payments said exists is taken as existing without asking again (default 60 s). */
  knownPaymentMethodTtlMs?: number;
  logger: Logger;
}

/** A cart line as cart answered it, before it is checked. */
type CartLineAnswer = { id?: unknown; product?: { id?: unknown } | null; quantity?: unknown } | null;

interface CartLineRef {
  id: string;
  productId: string;
  quantity: number;
}

const isMoney = (m: unknown): m is Money =>
  typeof m === 'object' && m !== null && Number.isSafeInteger((m as Money).amount) && typeof (m as Money).currency === 'string';

function cartLine(line: CartLineAnswer): CartLineRef {
  if (typeof line?.id !== 'string' || typeof line.product?.id !== 'string' || !Number.isSafeInteger(line.quantity)) {
    throw new Error('Cart lookup answered with a malformed line');
  }
  return { id: line.id, productId: line.product.id, quantity: line.quantity as number };
}

/**
 * Reads the checkout from the subgraphs that own it, on behalf of the caller whose token it
 * forwards as the router does (each subgraph verifies it): cart says what is in the cart, catalog
 * prices those lines, payments says whether the payment method exists. Payments is asked while
 * cart and then catalog are. Anything short of a complete answer rejects (a failing payments
 * subgraph is not "no such method", a price catalog did not give is not a price).
 *
 * A method payments said exists is not asked about again for `knownPaymentMethodTtlMs`: methods
 * are the deployment's configuration, so nearly every checkout would ask the same question. A
 * method withdrawn meanwhile is still caught: payments declines its charge. Unknown methods are
 * asked about every time, so nobody fills the memory with made-up ones.
 */
export function subgraphCheckoutSource({ urls, timeoutMs, knownPaymentMethodTtlMs = 60_000, logger }: SubgraphCheckoutSourceOptions): CheckoutSource {
  // Payment method → until when (performance.now()) it is taken as existing.
  const knownMethods = new Map<string, number>();
  return {
    async reserveCoupon(orderId, lines, token): Promise<CouponReservation | null> {
      type Answer = { reserveCoupon?: { redemption: { code?: unknown; discount?: unknown } | null; errors: { code: string; message: string }[] } };
      const { reserveCoupon: answer } = await queryGraph<Answer>({ url: urls.promotions, logger, timeoutMs }, 'Coupon reservation', {
        query: RESERVE_COUPON_MUTATION,
        operationName: 'CheckoutReserveCoupon',
        variables: { input: { orderId, lines } },
      }, token);
      if (!answer || !Array.isArray(answer.errors)) throw new Error('Coupon reservation answered without reserveCoupon');
      const [refusal] = answer.errors;
      if (refusal) throw new DomainError(refusal.code, refusal.message);
      if (answer.redemption === null) return null;
      const { code, discount } = answer.redemption;
      if (typeof code !== 'string' || !isMoney(discount)) throw new Error('Coupon reservation answered with a malformed redemption');
      return { code, discount: { amount: discount.amount, currency: discount.currency } };
    },

    async load(paymentMethod, token): Promise<Checkout> {
      const deadline = performance.now() + timeoutMs;
      const ask = <T>(url: string, what: string, request: GraphQLRequest) =>
        queryGraph<T>({ url, logger, timeoutMs: Math.max(1, Math.ceil(deadline - performance.now())) }, what, request, token);

      const pricedLines = async (): Promise<Checkout['lines']> => {
        const { cart } = await ask<{ cart?: { lines: CartLineAnswer[] } | null }>(urls.cart, 'Cart lookup', { query: CART_QUERY, operationName: 'CheckoutCart' });
        if (cart === undefined) throw new Error('Cart lookup answered without cart');
        const lines = (cart?.lines ?? []).map(cartLine);
        if (!lines.length) return [];
        const representations = lines.map((line) => ({ __typename: 'CartLine', id: line.id, product: { id: line.productId } }));
        const { _entities: prices } = await ask<{ _entities?: ({ unitPrice?: unknown } | null)[] }>(urls.catalog, 'Price lookup', {
          query: PRICES_QUERY,
          operationName: 'CheckoutPrices',
          variables: { lines: representations },
        });
        if (!Array.isArray(prices) || prices.length !== lines.length) throw new Error('Price lookup answered for other lines than it was asked');
        return lines.map((line, i) => {
          const unitPrice = prices[i]?.unitPrice;
          if (!isMoney(unitPrice)) throw new Error('Price lookup answered with a malformed price');
          return { productId: line.productId, quantity: line.quantity, unitPrice: { amount: unitPrice.amount, currency: unitPrice.currency } };
        });
      };

      const paymentMethodExists = async (): Promise<boolean> => {
        if ((knownMethods.get(paymentMethod) ?? 0) > performance.now()) return true;
        const data = await ask<{ paymentMethod?: { id: string } | null }>(urls.payments, 'Payment method lookup', {
          query: PAYMENT_METHOD_QUERY,
          operationName: 'CheckoutPaymentMethod',
          variables: { id: paymentMethod },
        });
        if (data.paymentMethod === undefined) throw new Error('Payment method lookup answered without paymentMethod');
        if (data.paymentMethod === null) return false;
        knownMethods.set(paymentMethod, performance.now() + knownPaymentMethodTtlMs);
        return true;
      };

      const [lines, exists] = await Promise.all([pricedLines(), paymentMethodExists()]);
      return { lines, paymentMethodExists: exists };
    },
  };
}
