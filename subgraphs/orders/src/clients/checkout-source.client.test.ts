import { createLogger, DomainError } from '@shopgraph/kit';
import { stubGraphQLServer, type StubServer } from '@shopgraph/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { CART_QUERY, PAYMENT_METHOD_QUERY, PRICES_QUERY, RESERVE_COUPON_MUTATION, subgraphCheckoutSource } from './checkout-source.client.ts';

const logger = createLogger('orders', 'silent');
const stubs: StubServer[] = [];

type Answer = Parameters<typeof stubGraphQLServer>[0];

/** A stand-in subgraph answering every request with `answer`; resolves with its URL. */
async function subgraph(answer: Answer): Promise<string> {
  const stub = await stubGraphQLServer(answer);
  stubs.push(stub);
  return stub.url;
}

afterEach(() => Promise.all(stubs.splice(0).map((stub) => stub.close())));

const productId = '7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11';
const lineId = 'line-1';
const cart = { lines: [{ id: lineId, product: { id: productId }, quantity: 2 }] };
const prices = [{ unitPrice: { amount: 1299, currency: 'USD' } }];

const healthy: Record<'cart' | 'catalog' | 'payments' | 'promotions', Answer> = {
  cart: () => ({ body: { data: { cart } } }),
  catalog: () => ({ body: { data: { _entities: prices } } }),
  payments: () => ({ body: { data: { paymentMethod: { id: 'pm_card_visa' } } } }),
  promotions: () => ({ body: { data: { reserveCoupon: { redemption: { code: 'SAVE10', discount: { amount: 259, currency: 'USD' } }, errors: [] } } } }),
};

/** A source over stand-in cart, catalog and payments subgraphs: healthy ones unless told otherwise. */
async function source(answers: Partial<typeof healthy> = {}, timeoutMs = 1000, knownPaymentMethodTtlMs?: number) {
  const { cart, catalog, payments, promotions } = { ...healthy, ...answers };
  const urls = { cart: await subgraph(cart), catalog: await subgraph(catalog), payments: await subgraph(payments), promotions: await subgraph(promotions) };
  return subgraphCheckoutSource({ urls, timeoutMs, logger, ...(knownPaymentMethodTtlMs !== undefined && { knownPaymentMethodTtlMs }) });
}

describe('subgraphCheckoutSource', () => {
  it("reads the cart from cart, its prices from catalog's CartLine.unitPrice and the payment method from payments, each with the caller's token", async () => {
    const seen: Record<string, { auth?: string; body?: any }> = {};
    const watch = (name: keyof typeof healthy): Answer => (body, req) => {
      seen[name] = { auth: req.headers.authorization, body };
      return healthy[name](body, req);
    };
    const checkout = await source({ cart: watch('cart'), catalog: watch('catalog'), payments: watch('payments') });

    expect(await checkout.load('pm_card_visa', 'tok.en')).toEqual({
      lines: [{ productId, quantity: 2, unitPrice: { amount: 1299, currency: 'USD' } }],
      paymentMethodExists: true,
    });
    expect(Object.values(seen).map((s) => s.auth)).toEqual(['Bearer tok.en', 'Bearer tok.en', 'Bearer tok.en']);
    expect(seen['cart']!.body).toMatchObject({ query: CART_QUERY });
    // The representation the router sends for the cart's unitPrice: the key and what it @requires.
    expect(seen['catalog']!.body).toMatchObject({ query: PRICES_QUERY, variables: { lines: [{ __typename: 'CartLine', id: lineId, product: { id: productId } }] } });
    expect(seen['payments']!.body).toMatchObject({ query: PAYMENT_METHOD_QUERY, variables: { id: 'pm_card_visa' } });
  });

  it('asks payments together with cart, and catalog only once cart has answered', async () => {
    const arrivals: Partial<Record<keyof typeof healthy, number>> = {};
    const arrive = (name: keyof typeof healthy, delayMs = 0): Answer => (body, req) => {
      arrivals[name] = performance.now();
      return { ...healthy[name](body, req), delayMs };
    };
    const checkout = await source({ cart: arrive('cart', 300), catalog: arrive('catalog'), payments: arrive('payments', 300) });
    await checkout.load('pm_card_visa', null);
    const { cart, catalog, payments } = arrivals as Required<typeof arrivals>;
    // One after the other, they would be 300 ms apart.
    expect(Math.abs(payments - cart)).toBeLessThan(150);
    expect(catalog - cart).toBeGreaterThanOrEqual(290);
  });

  it('reads a null payment method as unknown, and a null or empty cart as empty without asking catalog', async () => {
    let catalogAsked = false;
    const catalog: Answer = (body, req) => {
      catalogAsked = true;
      return healthy.catalog(body, req);
    };
    const unknown = await source({ cart: () => ({ body: { data: { cart: null } } }), catalog, payments: () => ({ body: { data: { paymentMethod: null } } }) });
    expect(await unknown.load('pm_nope', null)).toEqual({ lines: [], paymentMethodExists: false });
    const empty = await source({ cart: () => ({ body: { data: { cart: { lines: [] } } } }), catalog });
    expect(await empty.load('pm_card_visa', null)).toEqual({ lines: [], paymentMethodExists: true });
    expect(catalogAsked).toBe(false);
  });

  it('asks payments about a method it said exists once per knownPaymentMethodTtlMs, about an unknown one every time', async () => {
    const asked: string[] = [];
    const payments: Answer = (body) => {
      const id = (body as { variables: { id: string } }).variables.id;
      asked.push(id);
      return { body: { data: { paymentMethod: id === 'pm_card_visa' ? { id } : null } } };
    };
    const checkout = await source({ payments }, 1000, 300);
    for (let i = 0; i < 3; i++) expect((await checkout.load('pm_card_visa', null)).paymentMethodExists).toBe(true);
    for (let i = 0; i < 2; i++) expect((await checkout.load('pm_nope', null)).paymentMethodExists).toBe(false);
    expect(asked).toEqual(['pm_card_visa', 'pm_nope', 'pm_nope']);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await checkout.load('pm_card_visa', null)).paymentMethodExists).toBe(true);
    expect(asked).toEqual(['pm_card_visa', 'pm_nope', 'pm_nope', 'pm_card_visa']);
  });

  it('rejects, never answers "unknown method", when payments failed', async () => {
    const checkout = await source({ payments: () => ({ body: { data: { paymentMethod: null }, errors: [{ message: 'payments down' }] } }) });
    await expect(checkout.load('pm_card_visa', null)).rejects.toThrow(/payments down/);
  });

  it('rejects when cart or catalog failed', async () => {
    const cartDown = await source({ cart: () => ({ body: { data: null, errors: [{ message: 'cart down' }] } }) });
    await expect(cartDown.load('pm_card_visa', null)).rejects.toThrow(/cart down/);
    const productGone = await source({ catalog: () => ({ body: { data: { _entities: [null] }, errors: [{ message: 'Product no longer exists' }] } }) });
    await expect(productGone.load('pm_card_visa', null)).rejects.toThrow(/no longer exists/);
  });

  it('rejects answers without the fields it asked for, malformed lines, or prices that are not one per line', async () => {
    const answers: Partial<typeof healthy>[] = [
      { cart: () => ({ body: { data: {} } }) },
      { payments: () => ({ body: { data: {} } }) },
      { cart: () => ({ body: { data: { cart: { lines: [{ id: lineId, product: null, quantity: 1 }] } } } }) },
      { catalog: () => ({ body: { data: { _entities: [] } } }) },
      { catalog: () => ({ body: { data: { _entities: [...prices, ...prices] } } }) },
      { catalog: () => ({ body: { data: { _entities: [{ unitPrice: { amount: 12.99, currency: 'USD' } }] } } }) },
      { catalog: () => ({ body: { data: { _entities: [null] } } }) },
    ];
    for (const answer of answers) {
      await expect((await source(answer)).load('pm_card_visa', null), JSON.stringify(answer)).rejects.toThrow();
    }
  });

  it('rejects on an HTTP error status from any of them', async () => {
    for (const name of ['cart', 'catalog', 'payments'] as const) {
      const checkout = await source({ [name]: () => ({ status: 502, body: { errors: [{ message: 'bad gateway' }] } }) });
      await expect(checkout.load('pm_card_visa', null), name).rejects.toThrow();
    }
  });

  it('gives up after its timeout, which bounds the cart and its prices together', async () => {
    const slowPayments = await source({ payments: () => ({ delayMs: 2000, body: { data: { paymentMethod: null } } }) }, 100);
    let started = performance.now();
    await expect(slowPayments.load('pm_card_visa', null)).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1500);

    // Each answers within the timeout, but not both: given up well before the second answer.
    const slow = (answer: Answer): Answer => (body, req) => ({ ...answer(body, req), delayMs: 1000 });
    const slowCartThenPrices = await source({ cart: slow(healthy.cart), catalog: slow(healthy.catalog) }, 1200);
    started = performance.now();
    await expect(slowCartThenPrices.load('pm_card_visa', null)).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1800);
  });

  describe('reserveCoupon', () => {
    const lines = [{ productId, quantity: 2, unitPrice: { amount: 1299, currency: 'USD' } }];

    it("asks promotions for the order's coupon with the caller's token, and reads its redemption", async () => {
      let seen: { auth?: string; body?: any } = {};
      const checkout = await source({ promotions: (body, req) => ((seen = { auth: req.headers.authorization, body }), healthy.promotions(body, req)) });
      const orderId = crypto.randomUUID();
      expect(await checkout.reserveCoupon(orderId, lines, 'tok.en')).toEqual({ code: 'SAVE10', discount: { amount: 259, currency: 'USD' } });
      expect(seen).toMatchObject({ auth: 'Bearer tok.en', body: { query: RESERVE_COUPON_MUTATION, variables: { input: { orderId, lines } } } });
    });

    it('reads no redemption as no coupon, a refusal as the customer\'s error, anything else as a failure', async () => {
      const none = await source({ promotions: () => ({ body: { data: { reserveCoupon: { redemption: null, errors: [] } } } }) });
      expect(await none.reserveCoupon(crypto.randomUUID(), lines, null)).toBeNull();
      const refused = await source({ promotions: () => ({ body: { data: { reserveCoupon: { redemption: null, errors: [{ code: 'COUPON_EXHAUSTED', message: 'SAVE10 has been used up' }] } } } }) });
      await expect(refused.reserveCoupon(crypto.randomUUID(), lines, null)).rejects.toMatchObject({ name: 'DomainError', code: 'COUPON_EXHAUSTED', message: 'SAVE10 has been used up' });
      const malformed = await source({ promotions: () => ({ body: { data: { reserveCoupon: { redemption: { code: 'X', discount: { amount: '1' } }, errors: [] } } } }) });
      await expect(malformed.reserveCoupon(crypto.randomUUID(), lines, null)).rejects.toThrow('malformed redemption');
      const failing = await source({ promotions: () => ({ status: 500, body: { errors: [{ message: 'boom' }] } }) });
      const failure = await failing.reserveCoupon(crypto.randomUUID(), lines, null).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(DomainError);
    });
  });
});
