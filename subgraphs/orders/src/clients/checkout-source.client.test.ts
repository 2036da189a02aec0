import { createLogger } from '@shopgraph/kit';
import { stubGraphQLServer, type StubServer } from '@shopgraph/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKOUT_QUERY, graphCheckoutSource } from './checkout-source.client.ts';

const logger = createLogger('orders', 'silent');
const stubs: StubServer[] = [];

/** A stand-in router answering every request with `answer`; resolves with its URL. */
async function router(answer: Parameters<typeof stubGraphQLServer>[0]): Promise<string> {
  const stub = await stubGraphQLServer(answer);
  stubs.push(stub);
  return stub.url;
}

afterEach(() => Promise.all(stubs.splice(0).map((stub) => stub.close())));

const productId = '7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11';
const cart = { lines: [{ product: { id: productId }, quantity: 2, unitPrice: { amount: 1299, currency: 'USD' } }], subtotal: { amount: 2598, currency: 'USD' } };

describe('graphCheckoutSource', () => {
  it('asks for the cart, its prices and the payment method with the caller\'s token', async () => {
    let seen: { auth?: string; body?: any } = {};
    const url = await router((body, req) => {
      seen = { auth: req.headers.authorization, body };
      return { body: { data: { cart, paymentMethod: { id: 'pm_card_visa' } } } };
    });
    expect(await graphCheckoutSource({ url, timeoutMs: 1000, logger }).load('pm_card_visa', 'tok.en')).toEqual({
      lines: [{ productId, quantity: 2, unitPrice: { amount: 1299, currency: 'USD' } }],
      paymentMethodExists: true,
    });
    expect(seen.auth).toBe('Bearer tok.en');
    expect(seen.body).toMatchObject({ query: CHECKOUT_QUERY, variables: { pm: 'pm_card_visa' } });
    expect(CHECKOUT_QUERY).toBe('query Checkout($pm: ID!) { cart { lines { product { id } quantity unitPrice { amount currency } } subtotal { amount currency } } paymentMethod(id: $pm) { id } }');
  });

  it('reads a null payment method as unknown and a null cart as empty', async () => {
    const url = await router(() => ({ body: { data: { cart: null, paymentMethod: null } } }));
    expect(await graphCheckoutSource({ url, timeoutMs: 1000, logger }).load('pm_nope', null)).toEqual({ lines: [], paymentMethodExists: false });
  });

  it('rejects, never answers "unknown method", when a subgraph failed', async () => {
    const url = await router(() => ({ body: { data: { cart, paymentMethod: null }, errors: [{ message: 'payments down' }] } }));
    await expect(graphCheckoutSource({ url, timeoutMs: 1000, logger }).load('pm_card_visa', null)).rejects.toThrow(/payments down/);
  });

  it('rejects an answer without the fields it asked for, or malformed lines', async () => {
    const missing = await router(() => ({ body: { data: { cart } } }));
    await expect(graphCheckoutSource({ url: missing, timeoutMs: 1000, logger }).load('pm', null)).rejects.toThrow();
    const malformed = await router(() => ({ body: { data: { cart: { ...cart, lines: [{ product: null, quantity: 1, unitPrice: null }] }, paymentMethod: null } } }));
    await expect(graphCheckoutSource({ url: malformed, timeoutMs: 1000, logger }).load('pm', null)).rejects.toThrow(/malformed/);
  });

  it('rejects on an HTTP error status', async () => {
    const url = await router(() => ({ status: 502, body: { errors: [{ message: 'bad gateway' }] } }));
    await expect(graphCheckoutSource({ url, timeoutMs: 1000, logger }).load('pm', null)).rejects.toThrow();
  });

  it('gives up after its timeout', async () => {
    const url = await router(() => ({ delayMs: 2000, body: { data: { cart, paymentMethod: null } } }));
    const started = Date.now();
    await expect(graphCheckoutSource({ url, timeoutMs: 100, logger }).load('pm', null)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
