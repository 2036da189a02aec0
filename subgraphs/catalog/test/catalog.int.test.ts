import { createTestIssuer, errorCodes, graphql, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCatalog } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let staff: string;
let queries: string[] = [];

beforeAll(async () => {
  service = await startCatalog({ onQuery: (sql) => queries.push(sql) });
  ({ url, issuer } = service);
  staff = await issuer.staff();
});
afterAll(async () => {
  await service?.close();
});
beforeEach(() => {
  queries = [];
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

  it('answers products by id and as entity references in one statement, with every field the listing has', async () => {
    const bare = (await createProduct({ sku: 'SOCK-1', name: 'Wool sock', description: 'Warm', price: { amount: 1_250, currency: 'USD' } })).product;
    const shoe = (await graphql(url, `{ products(first: 100) { edges { node { id } } } }`)).data!['products'].edges.map((e: any) => e.node.id).find((id: string) => id !== bare.id);
    const fields = 'id sku name description price { amount currency } category { id name slug }';
    const listing = await graphql(url, `{ products(first: 20) { edges { node { ${fields} } } } }`);
    expect(listing.errors).toBeUndefined();
    const listed = listing.data!['products'].edges.map((e: any) => e.node);

    queries = [];
    const references = await graphql(url, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { ${fields} } } }`, { r: [shoe, bare.id, crypto.randomUUID()].map((id) => ({ __typename: 'Product', id })) });
    expect(references.data!['_entities']).toEqual([listed.find((p: any) => p.id === shoe), listed.find((p: any) => p.id === bare.id), null]);
    expect(listed.find((p: any) => p.id === bare.id)).toMatchObject({ description: 'Warm', category: null });
    expect(listed.find((p: any) => p.id === shoe).category).toEqual({ id: categoryId, name: 'Shoes', slug: 'shoes' });
    expect(queries.filter((sql) => /\bfrom "?product"?\s/.test(sql))).toHaveLength(1);

    const byId = await graphql(url, `query($id: ID!) { product(id: $id) { ${fields} } }`, { id: bare.id });
    expect(byId.data!['product']).toEqual(listed.find((p: any) => p.id === bare.id));
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

  it('resolves the category references of one request with one query, in the order asked, unknown ids as null', async () => {
    const facets: string[] = [];
    for (const n of [1, 2, 3, 4, 5]) facets.push((await graphql(url, CREATE_CATEGORY, { input: { name: `Facet ${n}`, slug: `facet-${n}` } }, staff)).data!['createCategory'].category.id);
    const asked = [facets[3]!, categoryId, crypto.randomUUID(), facets[0]!, 'not-a-uuid', facets[4]!, facets[1]!, facets[3]!];
    queries = [];
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Category { id name } } }`;
    const response = await graphql(url, query, { r: asked.map((id) => ({ __typename: 'Category', id })) });
    expect(response.errors).toBeUndefined();
    const facet = (n: number) => ({ id: facets[n - 1], name: `Facet ${n}` });
    expect(response.data!['_entities']).toEqual([facet(4), { id: categoryId, name: 'Shoes' }, null, facet(1), null, facet(5), facet(2), facet(4)]);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^select .* from "category"/);
  });

  it('counts the listing only for a client that selects totalCount', async () => {
    const total = (await service.sql<{ n: number }>('select count(*)::int as n from product'))[0]!.n;
    queries = [];
    const uncounted = await graphql(url, `{ products(first: 2) { edges { node { id } } pageInfo { hasNextPage } } }`);
    expect(uncounted.errors).toBeUndefined();
    expect(queries).toHaveLength(1);
    expect(queries[0]).not.toMatch(/count\(/);

    queries = [];
    const counted = await graphql(url, `query { products(first: 2) { ...Total edges { node { id } } } } fragment Total on ProductConnection { all: totalCount }`);
    expect(counted.data!['products'].all).toBe(total);
    expect(queries.filter((sql) => /count\(/.test(sql))).toHaveLength(1);
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

  it('walks every product once in (name, id) order across equal names, each page starting at its cursor in the index', async () => {
    // Seven products a name, so pages of 100 end inside a run of equal names.
    await service.sql(
      `insert into product (id, sku, name, description, price_amount, price_currency, created_at, updated_at)
       select gen_random_uuid(), 'BULK-' || i, 'Bulk ' || lpad((i / 7)::text, 4, '0'), '', 100, 'USD', now(), now() from generate_series(1, 3000) i`,
    );
    await service.sql('analyze product');
    const expected = (await service.sql<{ id: string }>('select id from product order by name, id')).map((row) => row.id);
    const query = `query($after: String) { products(first: 100, after: $after) { edges { node { id name category { id } } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let deepPage: { sql: string[]; after: { id: string; name: string } } | undefined;
    let after: string | null = null;
    let last: { id: string; name: string } | undefined;
    do {
      queries = [];
      const page: any = (await graphql(url, query, { after })).data!['products'];
      if (seen.length === 2_000) deepPage = { sql: queries, after: last! };
      seen.push(...page.edges.map((e: any) => e.node.id));
      last = page.edges.at(-1)?.node;
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual(expected);

    // The page 2,000 rows in reads its own 101 rows from the (name, id) index, not every earlier one.
    expect(deepPage!.sql).toHaveLength(1);
    const explain = `explain (analyze, format json) ${deepPage!.sql[0]}`;
    const [explained] = await service.sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(explain, [deepPage!.after.name, deepPage!.after.id, 101]);
    const scan = planNodes(explained!['QUERY PLAN'][0].Plan).find((node) => node['Relation Name'] === 'product');
    expect(scan).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': 'product_name_id_index', 'Actual Rows': 101 });
    expect(scan!['Rows Removed by Filter'] ?? 0).toBe(0);
  });

  it('resolves unknown product ids to null, not an error', async () => {
    const response = await graphql(url, `query($id: ID!) { product(id: $id) { id } }`, { id: 'not-a-uuid' });
    expect(response).toMatchObject({ data: { product: null } });
    expect(response.errors).toBeUndefined();
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

const planNodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(planNodes)];
