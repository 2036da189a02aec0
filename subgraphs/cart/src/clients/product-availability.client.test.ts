import { createLogger } from '@shopgraph/kit';
import { stubGraphQLServer, type StubServer } from '@shopgraph/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { PRODUCT_QUERY, STOCK_QUERY, subgraphProductAvailability } from './product-availability.client.ts';

const logger = createLogger('cart', 'silent');
const stubs: StubServer[] = [];

type Answer = Parameters<typeof stubGraphQLServer>[0];

/** A stand-in subgraph answering every request with `answer`; resolves with its URL. */
async function subgraph(answer: Answer): Promise<string> {
  const stub = await stubGraphQLServer(answer);
  stubs.push(stub);
  return stub.url;
}

afterEach(() => Promise.all(stubs.splice(0).map((stub) => stub.close())));

const id = '7f1e8f9c-1c52-4a57-9d8a-2f3b6a1c0d11';

const healthy: Record<'catalog' | 'inventory', Answer> = {
  catalog: () => ({ body: { data: { product: { id } } } }),
  inventory: () => ({ body: { data: { _entities: [{ availableQuantity: 7 }] } } }),
};
const failing: Answer = () => ({ body: { data: null, errors: [{ message: 'subgraph down' }] } });

/** Availability over stand-in catalog and inventory subgraphs: healthy ones unless told otherwise. */
async function availability(answers: Partial<typeof healthy> = {}, timeoutMs = 1000) {
  const { catalog, inventory } = { ...healthy, ...answers };
  return subgraphProductAvailability({ urls: { catalog: await subgraph(catalog), inventory: await subgraph(inventory) }, timeoutMs, logger });
}

describe('subgraphProductAvailability', () => {
  it("asks catalog for the product and inventory for its Product entity's stock, each with the caller's token", async () => {
    const seen: Record<string, { auth?: string; body?: any }> = {};
    const watch = (name: keyof typeof healthy): Answer => (body, req) => {
      seen[name] = { auth: req.headers.authorization, body };
      return healthy[name](body, req);
    };
    const products = await availability({ catalog: watch('catalog'), inventory: watch('inventory') });

    expect(await products.lookup(id, 'tok.en')).toEqual({ exists: true, availableQuantity: 7 });
    expect(seen['catalog']).toEqual({ auth: 'Bearer tok.en', body: { query: PRODUCT_QUERY, operationName: 'ProductExists', variables: { id } } });
    // The representation the router sends inventory for Product.availableQuantity: the entity's key.
    expect(seen['inventory']).toEqual({ auth: 'Bearer tok.en', body: { query: STOCK_QUERY, operationName: 'ProductStock', variables: { products: [{ __typename: 'Product', id }] } } });
  });

  it('asks both together', async () => {
    const arrivals: Partial<Record<keyof typeof healthy, number>> = {};
    const arrive = (name: keyof typeof healthy): Answer => (body, req) => {
      arrivals[name] = performance.now();
      return { ...healthy[name](body, req), delayMs: 300 };
    };
    await (await availability({ catalog: arrive('catalog'), inventory: arrive('inventory') })).lookup(id, null);
    // One after the other, they would be 300 ms apart.
    expect(Math.abs(arrivals.catalog! - arrivals.inventory!)).toBeLessThan(150);
  });

  it('reads a product catalog does not know as not found, whatever inventory answers', async () => {
    for (const inventory of [healthy.inventory, failing, () => ({ status: 502, body: {} })]) {
      const products = await availability({ catalog: () => ({ body: { data: { product: null } } }), inventory });
      expect(await products.lookup(id, null)).toEqual({ exists: false, availableQuantity: 0 });
    }
  });

  it('reads no stock (inventory never stocked it, or more reserved than on hand) as none available', async () => {
    for (const availableQuantity of [0, -2]) {
      const products = await availability({ inventory: () => ({ body: { data: { _entities: [{ availableQuantity }] } } }) });
      expect(await products.lookup(id, null)).toEqual({ exists: true, availableQuantity: 0 });
    }
  });

  it('rejects, never answers "not found", when catalog failed', async () => {
    for (const catalog of [failing, () => ({ status: 502, body: {} }), () => ({ body: { data: {} } })]) {
      await expect((await availability({ catalog })).lookup(id, null)).rejects.toThrow(/Product lookup/);
    }
  });

  it('rejects, never answers "none available", when inventory failed or answered for something else', async () => {
    const answers: Answer[] = [
      failing,
      () => ({ status: 502, body: {} }),
      () => ({ body: { data: { _entities: [null] }, errors: [{ message: 'inventory down' }] } }),
      () => ({ body: { data: {} } }),
      () => ({ body: { data: { _entities: [] } } }),
      () => ({ body: { data: { _entities: [{ availableQuantity: 7 }, { availableQuantity: 7 }] } } }),
      () => ({ body: { data: { _entities: [null] } } }),
      () => ({ body: { data: { _entities: [{ availableQuantity: 1.5 }] } } }),
    ];
    for (const inventory of answers) {
      await expect((await availability({ inventory })).lookup(id, null)).rejects.toThrow(/Stock lookup/);
    }
  });

  it('gives up after its timeout, on either of them', async () => {
    for (const name of ['catalog', 'inventory'] as const) {
      const products = await availability({ [name]: (body: unknown, req: Parameters<Answer>[1]) => ({ ...healthy[name](body, req), delayMs: 2000 }) }, 100);
      const started = performance.now();
      await expect(products.lookup(id, null), name).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(1500);
    }
  });
});
