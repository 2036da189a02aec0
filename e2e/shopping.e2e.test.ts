import { errorCodes, graphql, scrapeMetrics } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { STAFF, startSupergraph, type RunningSupergraph } from './supergraph.ts';

let graph: RunningSupergraph;
let staffToken: string;
const products: { id: string; price: number }[] = [];

beforeAll(async () => {
  graph = await startSupergraph();
  const login = await graphql(graph.routerUrl, operation('Login'), { input: { email: STAFF.email, password: STAFF.password } });
  staffToken = login.data!['login'].accessToken;

  const category = await graphql(graph.routerUrl, operation('CreateCategory'), { input: { name: 'Kitchen', slug: 'kitchen' } }, staffToken);
  const categoryId = category.data!['createCategory'].category.id;
  for (const [sku, name, price, stock] of [['KETTLE', 'Kettle', 3_999, 5], ['MUG', 'Mug', 1_250, 2], ['PAN', 'Pan', 5_500, 0]] as const) {
    const created = await graphql(graph.routerUrl, operation('CreateProduct'), { input: { sku, name, price: { amount: price, currency: 'USD' }, categoryId } }, staffToken);
    const id = created.data!['createProduct'].product.id;
    await graphql(graph.routerUrl, operation('SetStock'), { input: { productId: id, quantity: stock } }, staffToken);
    products.push({ id, price });
  }
});

afterAll(async () => {
  await graph?.close();
});

describe('a customer shopping through the router', () => {
  let token: string;

  it('registers, logs in and sees themself', async () => {
    const input = { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada' };
    const registered = await graphql(graph.routerUrl, operation('Register'), { input });
    expect(registered.data!['register']).toMatchObject({ errors: [], user: { email: 'ada@example.com', name: 'Ada' } });

    const login = await graphql(graph.routerUrl, operation('Login'), { input: { email: input.email, password: input.password } });
    token = login.data!['login'].accessToken;
    expect(token).toMatch(/^ey/);

    const me = await graphql(graph.routerUrl, operation('Me'), {}, token);
    expect(me.data!['me']).toMatchObject({ email: 'ada@example.com', name: 'Ada' });
  });

  it('browses products with prices and stock from two subgraphs', async () => {
    const page = await graphql(graph.routerUrl, operation('Products'), { first: 10 });
    expect(page.errors).toBeUndefined();
    const byName = Object.fromEntries(page.data!['products'].edges.map((e: any) => [e.node.name, e.node]));
    expect(byName['Kettle']).toMatchObject({ price: { amount: 3_999, currency: 'USD' }, availableQuantity: 5, inStock: true, category: { name: 'Kitchen' } });
    expect(byName['Pan']).toMatchObject({ availableQuantity: 0, inStock: false });
  });

  it('fills a cart whose subtotal uses current prices', async () => {
    const [kettle, mug] = products;
    const add = (productId: string, quantity: number) => graphql(graph.routerUrl, operation('AddToCart'), { input: { productId, quantity } }, token);
    expect((await add(kettle!.id, 1)).data!['addToCart'].errors).toEqual([]);
    const second = await add(mug!.id, 2);
    expect(second.errors).toBeUndefined();
    expect(second.data!['addToCart']).toMatchObject({
      errors: [],
      cart: {
        lines: [
          { product: { name: 'Kettle' }, quantity: 1, unitPrice: { amount: 3_999 }, lineTotal: { amount: 3_999 } },
          { product: { name: 'Mug' }, quantity: 2, unitPrice: { amount: 1_250 }, lineTotal: { amount: 2_500 } },
        ],
        subtotal: { amount: 6_499, currency: 'USD' },
      },
    });

    await graphql(graph.routerUrl, operation('UpdateProduct'), { input: { id: mug!.id, price: { amount: 1_000, currency: 'USD' } } }, staffToken);
    const catalogServed = async () => {
      const metrics = await scrapeMetrics(graph.subgraphUrls['catalog']!);
      return { http: metrics.value('shopgraph_graphql_http_requests_total'), operations: metrics.value('shopgraph_graphql_request_seconds_count', { operation_type: 'query' }) };
    };
    const before = await catalogServed();
    const cart = await graphql(graph.routerUrl, operation('Cart'), {}, token);
    expect(cart.data!['cart'].subtotal).toEqual({ amount: 5_999, currency: 'USD' });
    // The plan's parallel step asks catalog three things (the subtotal, the lines' prices, the
    // products' names): the router sends them in one HTTP request.
    const after = await catalogServed();
    expect({ http: after.http - before.http, operations: after.operations - before.operations }).toEqual({ http: 1, operations: 3 });
  });

  it('reports bad cart input as typed errors, never a 500', async () => {
    const add = async (productId: string, quantity: number) =>
      (await graphql(graph.routerUrl, operation('AddToCart'), { input: { productId, quantity } }, token)).data!['addToCart'].errors[0]?.code;
    expect(await add(products[0]!.id, 0)).toBe('INVALID_QUANTITY');
    expect(await add(products[0]!.id, -3)).toBe('INVALID_QUANTITY');
    expect(await add(crypto.randomUUID(), 1)).toBe('PRODUCT_NOT_FOUND');
    expect(await add(products[2]!.id, 1)).toBe('INSUFFICIENT_STOCK');
    expect(await add(products[1]!.id, 5)).toBe('INSUFFICIENT_STOCK');
  });

  it('refuses staff mutations to a customer, before any subgraph acts', async () => {
    const create = await graphql(graph.routerUrl, operation('CreateProduct'), { input: { sku: 'NOPE', name: 'Nope', price: { amount: 1, currency: 'USD' } } }, token);
    expect(errorCodes(create)).toContain('FORBIDDEN');
    const stock = await graphql(graph.routerUrl, operation('SetStock'), { input: { productId: products[0]!.id, quantity: 1000 } }, token);
    expect(errorCodes(stock)).toContain('FORBIDDEN');
    const check = await graphql(graph.routerUrl, operation('Product'), { id: products[0]!.id });
    expect(check.data!['product'].availableQuantity).toBe(5);
  });

  it('refreshes tokens with rotation', async () => {
    const login = await graphql(graph.routerUrl, operation('Login'), { input: { email: 'ada@example.com', password: 'correct horse battery' } });
    const first = login.data!['login'].refreshToken;
    const rotated = await graphql(graph.routerUrl, operation('RefreshToken'), { input: { refreshToken: first } });
    expect(rotated.data!['refreshToken']).toMatchObject({ errors: [], accessToken: expect.stringMatching(/^ey/) });
    const reused = await graphql(graph.routerUrl, operation('RefreshToken'), { input: { refreshToken: first } });
    expect(reused.data!['refreshToken'].errors[0].code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('rejects typed bad input at registration', async () => {
    const register = async (input: Record<string, string>) =>
      (await graphql(graph.routerUrl, operation('Register'), { input: { name: 'X', ...input } })).data!['register'].errors[0]?.code;
    expect(await register({ email: 'not-an-email', password: 'correct horse battery' })).toBe('INVALID_EMAIL');
    expect(await register({ email: 'weak@example.com', password: 'short' })).toBe('WEAK_PASSWORD');
    expect(await register({ email: 'ADA@example.com', password: 'correct horse battery' })).toBe('EMAIL_TAKEN');
  });
});
