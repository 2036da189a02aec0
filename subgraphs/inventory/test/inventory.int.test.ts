import type { Orm } from '@shopgraph/kit';
import { errorCodes, graphql, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startInventory } from './support.ts';

let service: ServiceUnderTest;
let baseUrl: string;
let url: string;
let issuer: TestIssuer;
let staff: string;
/** A second connection to the service's database, to stage what later features (reservations) will write. */
let db: Orm;
/** Every SQL statement the service sent since the last reset. */
let queries: string[] = [];

beforeAll(async () => {
  service = await startInventory({ onQuery: (sql) => queries.push(sql) });
  ({ base: baseUrl, url, issuer, orm: db } = service);
  staff = await issuer.staff();
});
afterAll(async () => {
  await service?.close();
});

beforeEach(() => {
  queries = [];
});

const PRODUCT_FIELDS = `product { id availableQuantity inStock } errors { code message field }`;
const SET_STOCK = `mutation($input: SetStockInput!) { setStock(input: $input) { ${PRODUCT_FIELDS} } }`;
const ADJUST_STOCK = `mutation($input: AdjustStockInput!) { adjustStock(input: $input) { ${PRODUCT_FIELDS} } }`;
const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id availableQuantity inStock } } }`;

async function setStock(productId: string, quantity: number, token: string = staff) {
  const response = await graphql(url, SET_STOCK, { input: { productId, quantity } }, token);
  expect(response.errors).toBeUndefined();
  return response.data!['setStock'];
}

async function adjustStock(productId: string, delta: number) {
  const response = await graphql(url, ADJUST_STOCK, { input: { productId, delta } }, staff);
  expect(response.errors).toBeUndefined();
  return response.data!['adjustStock'];
}

/** What the router asks inventory for when a query selects a Product's availability. */
async function products(...ids: string[]): Promise<{ id: string; availableQuantity: number; inStock: boolean }[]> {
  const response = await graphql(url, ENTITIES, { r: ids.map((id) => ({ __typename: 'Product', id })) });
  expect(response.errors).toBeUndefined();
  return response.data!['_entities'];
}

async function row(productId: string): Promise<{ on_hand: number; reserved: number; version: number } | undefined> {
  const rows = await db.em.fork().execute<{ on_hand: number; reserved: number; version: number }[]>('select on_hand, reserved, version from stock_item where product_id = ?', [productId]);
  return rows[0];
}

/** Stands in for the checkout saga, which will reserve units in a later feature. */
async function reserve(productId: string, units: number): Promise<void> {
  await db.em.fork().execute('update stock_item set reserved = ? where product_id = ?', [units, productId]);
}

describe('inventory subgraph', () => {
  it('sets stock and serves it as Product availability through entity references', async () => {
    const id = crypto.randomUUID();
    const set = await setStock(id, 7);
    expect(set).toEqual({ errors: [], product: { id, availableQuantity: 7, inStock: true } });
    expect(await products(id)).toEqual([{ id, availableQuantity: 7, inStock: true }]);

    expect((await setStock(id, 0)).product).toEqual({ id, availableQuantity: 0, inStock: false });
    expect(await products(id)).toEqual([{ id, availableQuantity: 0, inStock: false }]);
    expect(await row(id)).toMatchObject({ on_hand: 0, reserved: 0, version: 2 });
  });

  it('resolves products it has never stocked (and malformed ids) to 0 / not in stock, not errors', async () => {
    const unknown = crypto.randomUUID();
    expect(await products(unknown, 'not-a-uuid')).toEqual([
      { id: unknown, availableQuantity: 0, inStock: false },
      { id: 'not-a-uuid', availableQuantity: 0, inStock: false },
    ]);
  });

  it('counts availability as on hand minus reserved', async () => {
    const id = crypto.randomUUID();
    await setStock(id, 10);
    await reserve(id, 4);
    expect(await products(id)).toEqual([{ id, availableQuantity: 6, inStock: true }]);
    await reserve(id, 10);
    expect(await products(id)).toEqual([{ id, availableQuantity: 0, inStock: false }]);
  });

  it('resolves many references in one request with a single SQL query', async () => {
    const stocked = Array.from({ length: 20 }, () => crypto.randomUUID());
    for (const [i, id] of stocked.entries()) await setStock(id, i + 1);
    const unknown = Array.from({ length: 20 }, () => crypto.randomUUID());
    const ids = [...stocked, ...unknown, stocked[0]!, 'not-a-uuid'];

    queries = [];
    const result = await products(...ids);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^select .* from "stock_item"/);
    expect(result.map((p) => p.availableQuantity)).toEqual([...stocked.map((_, i) => i + 1), ...unknown.map(() => 0), 1, 0]);
    expect(result.map((p) => p.id)).toEqual(ids);
  });

  it('applies 100 concurrent +1 adjustments exactly once each', async () => {
    const id = crypto.randomUUID();
    await setStock(id, 5);
    const results = await Promise.all(Array.from({ length: 100 }, () => adjustStock(id, 1)));
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    // Each statement saw the one before it: every intermediate count was returned exactly once.
    expect(results.map((r) => r.product.availableQuantity).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 6 + i));
    expect(await products(id)).toEqual([{ id, availableQuantity: 105, inStock: true }]);
    expect(await row(id)).toMatchObject({ on_hand: 105, version: 101 });
  });

  it('lets exactly the available units be removed under 50 concurrent -1 adjustments', async () => {
    const id = crypto.randomUUID();
    await setStock(id, 20);
    const results = await Promise.all(Array.from({ length: 50 }, () => adjustStock(id, -1)));
    const succeeded = results.filter((r) => r.errors.length === 0);
    const refused = results.filter((r) => r.errors.length > 0);
    expect(succeeded).toHaveLength(20);
    expect(refused).toHaveLength(30);
    expect(refused.every((r) => r.product === null && r.errors[0].code === 'INSUFFICIENT_STOCK')).toBe(true);
    expect(succeeded.map((r) => r.product.availableQuantity).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await row(id)).toMatchObject({ on_hand: 0, reserved: 0 });
    expect(await products(id)).toEqual([{ id, availableQuantity: 0, inStock: false }]);
  });

  it('adds stock for a product it has never seen, and refuses to remove any', async () => {
    const id = crypto.randomUUID();
    expect((await adjustStock(id, -1)).errors).toEqual([{ code: 'INSUFFICIENT_STOCK', message: expect.any(String), field: ['input', 'delta'] }]);
    expect(await row(id)).toBeUndefined();
    expect(await adjustStock(id, 3)).toEqual({ errors: [], product: { id, availableQuantity: 3, inStock: true } });
  });

  it('never lets on-hand drop below what is reserved', async () => {
    const id = crypto.randomUUID();
    await setStock(id, 10);
    await reserve(id, 6);

    expect((await setStock(id, 5)).errors).toEqual([{ code: 'BELOW_RESERVED', message: expect.any(String), field: ['input', 'quantity'] }]);
    expect((await adjustStock(id, -5)).errors[0]).toMatchObject({ code: 'INSUFFICIENT_STOCK', field: ['input', 'delta'] });
    expect(await row(id)).toMatchObject({ on_hand: 10, reserved: 6 });

    expect((await setStock(id, 6)).product).toEqual({ id, availableQuantity: 0, inStock: false });
    expect((await adjustStock(id, 4)).product).toEqual({ id, availableQuantity: 4, inStock: true });
    expect((await adjustStock(id, -4)).product).toEqual({ id, availableQuantity: 0, inStock: false });
  });

  it('reports bad input as typed user errors', async () => {
    const id = crypto.randomUUID();
    expect(await setStock(id, -1)).toEqual({ product: null, errors: [{ code: 'INVALID_QUANTITY', message: expect.any(String), field: ['input', 'quantity'] }] });
    expect(await row(id)).toBeUndefined();
    expect(await setStock('not-a-uuid', 1)).toEqual({ product: null, errors: [{ code: 'INVALID_PRODUCT_ID', message: expect.any(String), field: ['input', 'productId'] }] });
    expect((await adjustStock('42', 1)).errors[0]).toMatchObject({ code: 'INVALID_PRODUCT_ID', field: ['input', 'productId'] });

    await setStock(id, 2_147_483_647);
    expect((await adjustStock(id, 1)).errors[0]).toMatchObject({ code: 'QUANTITY_TOO_LARGE', field: ['input', 'delta'] });
    expect(await products(id)).toEqual([{ id, availableQuantity: 2_147_483_647, inStock: true }]);
  });

  it('keeps CHECK constraints as the last line of defence', async () => {
    const id = crypto.randomUUID();
    await setStock(id, 3);
    const raw = (sql: string) => db.em.fork().execute(sql, [id]);
    await expect(raw('update stock_item set on_hand = -1, reserved = 0 where product_id = ?')).rejects.toMatchObject({ constraint: 'stock_item_on_hand_check' });
    await expect(raw('update stock_item set reserved = 4 where product_id = ?')).rejects.toMatchObject({ constraint: 'stock_item_reserved_within_on_hand_check' });
    await expect(raw('update stock_item set reserved = -1 where product_id = ?')).rejects.toMatchObject({ constraint: 'stock_item_reserved_check' });
  });

  it('refuses stock changes to customers and anonymous callers', async () => {
    const customer = await issuer.customer();
    for (const [query, input] of [[SET_STOCK, { productId: crypto.randomUUID(), quantity: 1 }], [ADJUST_STOCK, { productId: crypto.randomUUID(), delta: 1 }]] as const) {
      const asCustomer = await graphql(url, query, { input }, customer);
      expect(errorCodes(asCustomer)).toEqual(['FORBIDDEN']);
      expect(asCustomer.data).toBeNull();
      const anonymous = await graphql(url, query, { input });
      expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);
      expect(anonymous.data).toBeNull();
      expect(await row(input.productId)).toBeUndefined();
    }
  });

  it('is ready when its database answers', async () => {
    const response = await fetch(`${baseUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
