import type { Orm } from '@shopgraph/kit';
import { graphql, observe, type EventObserver, type Received, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCatalog } from './support.ts';

// catalog.product.changed: the whole product, recorded in the transaction that writes it.

let service: ServiceUnderTest;
let url: string;
let staff: string;
let orm: Orm;
let observer: EventObserver;
let queries: string[] = [];

beforeAll(async () => {
  service = await startCatalog({ onQuery: (sql) => queries.push(sql) });
  ({ url, orm } = service);
  staff = await service.issuer.staff();
  observer = await observe('catalog.product.v1');
});
afterAll(async () => {
  await observer?.close();
  await service?.close();
});

const PRODUCT = 'product { id sku name description price { amount currency } category { id } } errors { code }';
const CREATE = `mutation($input: CreateProductInput!) { createProduct(input: $input) { ${PRODUCT} } }`;
const UPDATE = `mutation($input: UpdateProductInput!) { updateProduct(input: $input) { ${PRODUCT} } }`;
const UPDATE_MANY = `mutation($input: UpdateProductsInput!) { updateProducts(input: $input) { products { id name price { amount } } errors { code field } } }`;

async function mutate(query: string, input: Record<string, unknown>) {
  const response = await graphql(url, query, { input }, staff);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as { product: { id: string; sku: string; name: string; description: string; price: { amount: number; currency: string }; category: { id: string } | null } | null; errors: { code: string }[] };
}

const about = (productId: string) => (e: Received) => e.envelope.subject === productId;
const outboxed = async (productId: string) => (await orm.em.fork().execute<{ n: number }[]>('select count(*)::int as n from outbox_message where key = ?', [productId]))[0]!.n;

describe('catalog.product.changed', () => {
  it('is published with the whole product when a product is created, and again with the new state on each update', async () => {
    const category = await graphql(url, `mutation { createCategory(input: { name: "Boots", slug: "boots" }) { category { id } } }`, {}, staff);
    const categoryId = category.data!['createCategory'].category.id;
    const { product } = await mutate(CREATE, { sku: 'BOOT-1', name: 'Hiking boot', description: 'Waterproof', price: { amount: 15_900, currency: 'USD' }, categoryId });

    const [created] = await observer.waitFor(about(product!.id));
    expect(created).toMatchObject({ topic: 'catalog.product.v1', key: product!.id });
    expect(created!.envelope).toMatchObject({ type: 'catalog.product.changed', source: 'catalog', subject: product!.id, dataVersion: 1 });
    expect(created!.envelope.data).toEqual({ productId: product!.id, sku: 'BOOT-1', name: 'Hiking boot', description: 'Waterproof', price: { amount: 15_900, currency: 'USD' }, categoryId });

    await mutate(UPDATE, { id: product!.id, price: { amount: 12_900, currency: 'USD' } });
    await mutate(UPDATE, { id: product!.id, name: 'Trail boot', categoryId: null });
    const changes = await observer.waitFor(about(product!.id), 3);
    // One product, one key, one partition: the events arrive in the order the updates committed.
    expect(changes.map((e) => e.envelope.data)).toEqual([
      created!.envelope.data,
      { productId: product!.id, sku: 'BOOT-1', name: 'Hiking boot', description: 'Waterproof', price: { amount: 12_900, currency: 'USD' }, categoryId },
      { productId: product!.id, sku: 'BOOT-1', name: 'Trail boot', description: 'Waterproof', price: { amount: 12_900, currency: 'USD' }, categoryId: null },
    ]);
  });

  it('carries the state that committed when updates of one product race: the last event is the final product', async () => {
    const { product } = await mutate(CREATE, { sku: 'RACE-1', name: 'Race', price: { amount: 100, currency: 'USD' } });
    const updates = Array.from({ length: 10 }, (_, i) => (i % 2 ? { name: `Race ${i}` } : { price: { amount: 200 + i, currency: 'USD' } }));
    await Promise.all(updates.map((change) => mutate(UPDATE, { id: product!.id, ...change })));

    const events = await observer.waitFor(about(product!.id), 11);
    const [final] = await orm.em.fork().execute<{ name: string; price_amount: number }[]>('select name, price_amount from product where id = ?', [product!.id]);
    expect(events.at(-1)!.envelope.data).toMatchObject({ name: final!.name, price: { amount: final!.price_amount, currency: 'USD' } });
    // Each update saw the one before it (the row lock): every event is the previous one with one field changed.
    const fields = (e: Received) => e.envelope.data as { name: string; price: { amount: number } };
    for (let i = 1; i < events.length; i++) {
      const [before, after] = [fields(events[i - 1]!), fields(events[i]!)];
      expect(Number(before.name !== after.name) + Number(before.price.amount !== after.price.amount)).toBe(1);
    }
  });

  it('is not recorded when a write fails', async () => {
    const { product } = await mutate(CREATE, { sku: 'ONCE', name: 'Once', price: { amount: 1, currency: 'USD' } });
    expect((await mutate(CREATE, { sku: 'ONCE', name: 'Twice', price: { amount: 1, currency: 'USD' } })).errors[0]!.code).toBe('SKU_TAKEN');
    expect((await mutate(UPDATE, { id: product!.id, price: { amount: 1, currency: 'EUR' } })).errors[0]!.code).toBe('UNSUPPORTED_CURRENCY');
    expect((await mutate(UPDATE, { id: product!.id, categoryId: crypto.randomUUID() })).errors[0]!.code).toBe('CATEGORY_NOT_FOUND');
    expect(await outboxed(product!.id)).toBe(1);
    expect(await orm.em.fork().execute('select 1 from outbox_message where envelope->\'data\'->>\'name\' = ?', ['Twice'])).toEqual([]);
  });

  it('answers SKU_TAKEN, not an error, when the same SKU is created concurrently, and records one event', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => mutate(CREATE, { sku: 'SAME-SKU', name: 'Same', price: { amount: 1, currency: 'USD' } })));
    const created = results.filter((r) => r.errors.length === 0);
    expect(created).toHaveLength(1);
    expect(results.filter((r) => r.errors[0]?.code === 'SKU_TAKEN')).toHaveLength(4);
    expect(await outboxed(created[0]!.product!.id)).toBe(1);
  });

  it('is recorded for every product of a bulk update, all in the one transaction that changes them', async () => {
    const created = await Promise.all([1, 2, 3].map((n) => mutate(CREATE, { sku: `BULK-${n}`, name: `Bulk ${n}`, price: { amount: 100 * n, currency: 'USD' } })));
    const ids = created.map(({ product }) => product!.id);
    queries = [];
    const response = await graphql(url, UPDATE_MANY, { input: { products: ids.map((id, i) => ({ id, price: { amount: 1_000 + i, currency: 'USD' } })) } }, staff);
    expect(response.data!['updateProducts']).toEqual({ errors: [], products: ids.map((id, i) => ({ id, name: `Bulk ${i + 1}`, price: { amount: 1_000 + i } })) });

    const events = await Promise.all(ids.map(async (id) => (await observer.waitFor(about(id), 2))[1]!));
    expect(events.map((e) => e.envelope.data)).toEqual(ids.map((id, i) => expect.objectContaining({ productId: id, name: `Bulk ${i + 1}`, price: { amount: 1_000 + i, currency: 'USD' } })));
    // One transaction: one lock of the three rows, one write of them, one of their three events.
    expect(queries.filter((sql) => /^(begin|commit)/.test(sql))).toEqual(['begin', 'commit']);
    expect(queries.filter((sql) => /^(select|update|insert)/.test(sql))).toEqual([
      expect.stringMatching(/^select .* from "product" .* for update/s),
      expect.stringMatching(/^insert into "outbox_message"/),
      expect.stringMatching(/^update "product"/),
    ]);
  });

  it('changes nothing and records nothing when any item of a bulk update is refused, and names every problem by its item', async () => {
    const { product: kept } = await mutate(CREATE, { sku: 'BULK-KEEP', name: 'Kept', price: { amount: 500, currency: 'USD' } });
    const { product: other } = await mutate(CREATE, { sku: 'BULK-OTHER', name: 'Other', price: { amount: 600, currency: 'USD' } });
    const response = await graphql(url, UPDATE_MANY, {
      input: {
        products: [
          { id: kept!.id, price: { amount: 1, currency: 'USD' } },
          { id: crypto.randomUUID(), name: 'Ghost' },
          { id: other!.id, price: { amount: 1, currency: 'EUR' }, name: ' ' },
          { id: kept!.id, name: 'Twice' },
          { id: other!.id.replace(/.$/, 'x') },
        ],
      },
    }, staff);
    expect(response.data!['updateProducts'].products).toBeNull();
    expect(response.data!['updateProducts'].errors).toEqual([
      { code: 'INVALID_NAME', field: ['input', 'products', '2', 'name'] },
      { code: 'UNSUPPORTED_CURRENCY', field: ['input', 'products', '2', 'price', 'currency'] },
      { code: 'DUPLICATE_PRODUCT', field: ['input', 'products', '3', 'id'] },
      { code: 'PRODUCT_NOT_FOUND', field: ['input', 'products', '4', 'id'] },
    ]);
    // Found only once the items themselves are valid: a product that does not exist and a category.
    const unknown = await graphql(url, UPDATE_MANY, { input: { products: [{ id: kept!.id, price: { amount: 1, currency: 'USD' } }, { id: crypto.randomUUID() }, { id: other!.id, categoryId: crypto.randomUUID() }] } }, staff);
    expect(unknown.data!['updateProducts'].errors).toEqual([
      { code: 'PRODUCT_NOT_FOUND', field: ['input', 'products', '1', 'id'] },
      { code: 'CATEGORY_NOT_FOUND', field: ['input', 'products', '2', 'categoryId'] },
    ]);
    for (const [id, amount] of [[kept!.id, 500], [other!.id, 600]] as const) {
      expect(await orm.em.fork().execute('select price_amount from product where id = ?', [id])).toEqual([{ price_amount: amount }]);
      expect(await outboxed(id)).toBe(1);
    }
  });

  it('refuses an empty bulk update and one over its size, by code', async () => {
    const { product } = await mutate(CREATE, { sku: 'BULK-SIZE', name: 'Size', price: { amount: 1, currency: 'USD' } });
    for (const products of [[], Array.from({ length: 251 }, () => ({ id: product!.id }))]) {
      const response = await graphql(url, UPDATE_MANY, { input: { products } }, staff);
      expect(response.data!['updateProducts'].errors).toEqual([{ code: 'INVALID_BATCH_SIZE', field: ['input', 'products'] }]);
    }
  });

  it('has migrations that build exactly the schema its entities describe', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
  });
});
