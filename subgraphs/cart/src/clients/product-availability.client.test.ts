import { createLogger } from '@shopgraph/kit';
import { stubGraphQLServer, type StubServer } from '@shopgraph/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { graphProductAvailability } from './product-availability.client.ts';

const logger = createLogger('cart', 'silent');
const stubs: StubServer[] = [];

/** A stand-in router answering every request with `answer`; resolves with its URL. */
async function router(answer: Parameters<typeof stubGraphQLServer>[0]): Promise<string> {
  const stub = await stubGraphQLServer(answer);
  stubs.push(stub);
  return stub.url;
}

afterEach(() => Promise.all(stubs.splice(0).map((stub) => stub.close())));

describe('graphProductAvailability', () => {
  const id = '7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11';

  it('asks for the product and its stock with the caller\'s token', async () => {
    let seen: { auth?: string; body?: any } = {};
    const url = await router((body, req) => {
      seen = { auth: req.headers.authorization, body };
      return { body: { data: { product: { id, availableQuantity: 7 } } } };
    });
    expect(await graphProductAvailability({ url, timeoutMs: 1000, logger }).lookup(id, 'tok.en')).toEqual({ exists: true, availableQuantity: 7 });
    expect(seen.auth).toBe('Bearer tok.en');
    expect(seen.body).toEqual({ query: 'query($id: ID!) { product(id: $id) { id availableQuantity } }', variables: { id } });
  });

  it('reads a null product as not existing', async () => {
    const url = await router(() => ({ body: { data: { product: null } } }));
    expect(await graphProductAvailability({ url, timeoutMs: 1000, logger }).lookup(id, null)).toEqual({ exists: false, availableQuantity: 0 });
  });

  it('rejects, never answers "not found", when the answer is incomplete', async () => {
    // A failing inventory nulls the product (availableQuantity is non-null): that is not "no such product".
    const url = await router(() => ({ body: { data: { product: null }, errors: [{ message: 'inventory down' }] } }));
    await expect(graphProductAvailability({ url, timeoutMs: 1000, logger }).lookup(id, null)).rejects.toThrow(/inventory down/);
  });

  it('rejects on an HTTP error status', async () => {
    const url = await router(() => ({ status: 502, body: { errors: [{ message: 'bad gateway' }] } }));
    await expect(graphProductAvailability({ url, timeoutMs: 1000, logger }).lookup(id, null)).rejects.toThrow();
  });

  it('gives up after its timeout', async () => {
    const url = await router(() => ({ delayMs: 2000, body: { data: { product: { id, availableQuantity: 1 } } } }));
    const started = Date.now();
    await expect(graphProductAvailability({ url, timeoutMs: 100, logger }).lookup(id, null)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
