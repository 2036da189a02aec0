import { createTestIssuer, errorCodes, graphql, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCatalog } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let staff: string;

beforeAll(async () => {
  service = await startCatalog();
  ({ url, issuer } = service);
  staff = await issuer.staff();
});
afterAll(async () => {
  await service?.close();
});

const CREATE_CATEGORY = `mutation($input: CreateCategoryInput!) { createCategory(input: $input) { category { id name slug } errors { code field } } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id sku name price { amount currency } category { slug } } errors { code message field } } }`;

async function createProduct(input: Record<string, unknown>, token = staff) {
  const response = await graphql(url, CREATE_PRODUCT, { input: { description: '', price: { amount: 1000, currency: 'USD' }, ...input } }, token);
  return response.data!['createProduct'];
}

describe('catalog subgraph', () => {
  let categoryId: string;

  it('lets staff create categories and products', async () => {
    const category = await graphql(url, CREATE_CATEGORY, { input: { name: 'Shoes', slug: 'shoes' } }, staff);
    expect(category.data!['createCategory'].errors).toEqual([]);
    categoryId = category.data!['createCategory'].category.id;

    const created = await createProduct({ sku: 'SHOE-1', name: 'Trail shoe', price: { amount: 12_999, currency: 'USD' }, categoryId });
    expect(created).toMatchObject({ errors: [], product: { sku: 'SHOE-1', price: { amount: 12_999, currency: 'USD' }, category: { slug: 'shoes' } } });
  });

  it('reports bad product input as typed user errors', async () => {
    expect((await createProduct({ sku: 'SHOE-1', name: 'Again' })).errors[0].code).toBe('SKU_TAKEN');
    expect((await createProduct({ sku: 'has space', name: 'x' })).errors[0].code).toBe('INVALID_SKU');
    expect((await createProduct({ sku: 'NEG', name: 'x', price: { amount: -1, currency: 'USD' } })).errors[0]).toMatchObject({ code: 'INVALID_PRICE', field: ['input', 'price', 'amount'] });
    expect((await createProduct({ sku: 'EUR', name: 'x', price: { amount: 1, currency: 'EUR' } })).errors[0].code).toBe('UNSUPPORTED_CURRENCY');
    expect((await createProduct({ sku: 'CAT', name: 'x', categoryId: crypto.randomUUID() })).errors[0].code).toBe('CATEGORY_NOT_FOUND');
    expect((await createProduct({ sku: 'NAME', name: '   ' })).errors[0].code).toBe('INVALID_NAME');
  });

  it('refuses staff mutations to customers and anonymous callers', async () => {
    const asCustomer = await graphql(url, CREATE_PRODUCT, { input: { sku: 'X', name: 'x', price: { amount: 1, currency: 'USD' } } }, await issuer.customer());
    expect(errorCodes(asCustomer)).toEqual(['FORBIDDEN']);
    const anonymous = await graphql(url, CREATE_PRODUCT, { input: { sku: 'X', name: 'x', price: { amount: 1, currency: 'USD' } } });
    expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);
  });

  it('does not act on a forged identity: only a verified token counts', async () => {
    const forged = await (await createTestIssuer()).staff();
    const response = await graphql(url, CREATE_PRODUCT, { input: { sku: 'F', name: 'f', price: { amount: 1, currency: 'USD' } } }, forged);
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);

    const spoofedHeaders = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': 'staff', 'x-user-scopes': 'staff' },
      body: JSON.stringify({ query: CREATE_PRODUCT, variables: { input: { sku: 'F', name: 'f', price: { amount: 1, currency: 'USD' } } } }),
    });
    expect(errorCodes({ status: 200, ...((await spoofedHeaders.json()) as object) })).toEqual(['UNAUTHENTICATED']);
  });

  it('pages products by name with opaque cursors', async () => {
    for (const n of [3, 1, 2]) await createProduct({ sku: `PAGE-${n}`, name: `Page item ${n}`, categoryId });
    const query = `query($after: String, $categoryId: ID) { products(first: 2, after: $after, categoryId: $categoryId) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }`;
    const first = (await graphql(url, query, { categoryId })).data!['products'];
    expect(first.totalCount).toBe(4);
    expect(first.edges.map((e: any) => e.node.name)).toEqual(['Page item 1', 'Page item 2']);
    const second = (await graphql(url, query, { categoryId, after: first.pageInfo.endCursor })).data!['products'];
    expect(second.edges.map((e: any) => e.node.name)).toEqual(['Page item 3', 'Trail shoe']);
    expect(second.pageInfo.hasNextPage).toBe(false);

    for (const after of ['garbage', Buffer.from(JSON.stringify(['Page item 1', ''])).toString('base64url')]) {
      const forged = await graphql(url, query, { after });
      expect(forged.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CURSOR' });
    }

    const bad = await graphql(url, `{ products(first: 1000) { totalCount } }`);
    expect(bad.errors?.[0]).toMatchObject({ message: expect.stringMatching(/first must be between/), extensions: { code: 'BAD_USER_INPUT', reason: 'INVALID_PAGE_SIZE' } });
  });

  it('pages through products of the same name by id, each exactly once', async () => {
    const twins = await graphql(url, CREATE_CATEGORY, { input: { name: 'Twins', slug: 'twins' } }, staff);
    const twinsId = twins.data!['createCategory'].category.id;
    const created: string[] = [];
    for (const n of [1, 2, 3, 4, 5]) created.push((await createProduct({ sku: `TWIN-${n}`, name: 'Same name', categoryId: twinsId })).product.id);
    const query = `query($after: String, $categoryId: ID) { products(first: 2, after: $after, categoryId: $categoryId) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: any = (await graphql(url, query, { categoryId: twinsId, after })).data!['products'];
      seen.push(...page.edges.map((e: any) => e.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual([...created].sort());
  });

  it('resolves category references', async () => {
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Category { id name } } }`;
    const response = await graphql(url, query, { r: [{ __typename: 'Category', id: categoryId }, { __typename: 'Category', id: crypto.randomUUID() }, { __typename: 'Category', id: categoryId }] });
    expect(response.data!['_entities']).toEqual([{ id: categoryId, name: expect.any(String) }, null, { id: categoryId, name: expect.any(String) }]);
  });

  it('prices cart lines and subtotals from current prices (entity references)', async () => {
    const a = await createProduct({ sku: 'PRICE-A', name: 'A', price: { amount: 250, currency: 'USD' } });
    const b = await createProduct({ sku: 'PRICE-B', name: 'B', price: { amount: 1_000, currency: 'USD' } });
    const lines = [
      { __typename: 'CartLine', id: 'l1', product: { id: a.product.id }, quantity: 3 },
      { __typename: 'CartLine', id: 'l2', product: { id: b.product.id }, quantity: 1 },
    ];
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on CartLine { unitPrice { amount } lineTotal { amount } } ... on Cart { subtotal { amount currency } } } }`;
    const response = await graphql(url, query, { r: [...lines, { __typename: 'Cart', id: 'c1', lines }] });
    expect(response.errors).toBeUndefined();
    expect(response.data!['_entities']).toEqual([
      { unitPrice: { amount: 250 }, lineTotal: { amount: 750 } },
      { unitPrice: { amount: 1_000 }, lineTotal: { amount: 1_000 } },
      { subtotal: { amount: 1_750, currency: 'USD' } },
    ]);

    await graphql(url, `mutation($input: UpdateProductInput!) { updateProduct(input: $input) { errors { code } } }`, { input: { id: a.product.id, price: { amount: 300, currency: 'USD' } } }, staff);
    const repriced = await graphql(url, query, { r: [{ __typename: 'Cart', id: 'c1', lines }] });
    expect(repriced.data!['_entities']).toEqual([{ subtotal: { amount: 1_900, currency: 'USD' } }]);
  });

  it('resolves unknown product ids to null, not an error', async () => {
    const response = await graphql(url, `query($id: ID!) { product(id: $id) { id } }`, { id: 'not-a-uuid' });
    expect(response).toMatchObject({ data: { product: null } });
    expect(response.errors).toBeUndefined();
  });
});
