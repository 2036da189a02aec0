import { createLogger, type Orm } from '@shopgraph/kit';
import { errorCodes, graphql, serviceEnv, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCartApp } from '../src/app.ts';
import { loadCartConfig } from '../src/config.ts';
import type { ProductAvailability } from '../src/domain/product-availability.ts';
import { startCart } from './support.ts';

/** Stands in for catalog and inventory: product id → units available. */
const stock = new Map<string, number>();
const tokensSeen: (string | null)[] = [];
const products: ProductAvailability = {
  lookup: async (productId, token) => {
    tokensSeen.push(token);
    const available = stock.get(productId);
    return available === undefined ? { exists: false, availableQuantity: 0 } : { exists: true, availableQuantity: available };
  },
};
const newProduct = (available = 1000): string => {
  const id = crypto.randomUUID();
  stock.set(id, available);
  return id;
};

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let orm: Orm;
let dbUrl: string;

beforeAll(async () => {
  service = await startCart({ products });
  ({ url, issuer, orm, databaseUrl: dbUrl } = service);
});
afterAll(async () => {
  await service?.close();
});

const LINES = 'id lines { id product { id } quantity }';
const CART = `{ cart { ${LINES} } }`;
const ADD = `mutation($input: AddToCartInput!) { addToCart(input: $input) { cart { ${LINES} } errors { code message field } } }`;
const UPDATE = `mutation($input: UpdateCartLineInput!) { updateCartLine(input: $input) { cart { ${LINES} } errors { code message field } } }`;
const REMOVE = `mutation($input: RemoveFromCartInput!) { removeFromCart(input: $input) { cart { ${LINES} } errors { code message field } } }`;

async function customer() {
  const userId = crypto.randomUUID();
  return { userId, token: await issuer.customer(userId) };
}
async function mutate(query: string, input: Record<string, unknown>, token: string, field: string) {
  const response = await graphql(url, query, { input }, token);
  expect(response.errors).toBeUndefined();
  return response.data![field] as { cart: { id: string; lines: { id: string; product: { id: string }; quantity: number }[] } | null; errors: { code: string; message: string; field: string[] }[] };
}
const add = (token: string, productId: string, quantity = 1) => mutate(ADD, { productId, quantity }, token, 'addToCart');
const update = (token: string, productId: string, quantity: number) => mutate(UPDATE, { productId, quantity }, token, 'updateCartLine');
const remove = (token: string, productId: string) => mutate(REMOVE, { productId }, token, 'removeFromCart');
const linesOf = (cart: { lines: { product: { id: string }; quantity: number }[] } | null) => cart?.lines.map((l) => [l.product.id, l.quantity]);

async function rows(sql: string, params: unknown[]): Promise<number> {
  const [row] = await orm.em.fork().execute<{ n: number }[]>(sql, params);
  return row!.n;
}
const cartRows = (userId: string) => rows('select count(*)::int as n from cart where user_id = ?', [userId]);
const lineRows = (userId: string) => rows('select count(*)::int as n from cart_line l join cart c on c.id = l.cart_id where c.user_id = ?', [userId]);

describe('cart subgraph', () => {
  it('shows a new customer an empty cart without writing a row, with the id its first add keeps', async () => {
    const { userId, token } = await customer();
    const response = await graphql(url, CART, {}, token);
    expect(response.errors).toBeUndefined();
    const empty = response.data!['cart'];
    expect(empty).toEqual({ id: expect.any(String), lines: [] });
    expect(await cartRows(userId)).toBe(0);

    const added = await add(token, newProduct());
    expect(added.cart!.id).toBe(empty.id);
    expect(await cartRows(userId)).toBe(1);
  });

  it('adds lines with product and quantity, in the order added, asking on behalf of the caller', async () => {
    const { token } = await customer();
    const [a, b, c, d] = [newProduct(), newProduct(), newProduct(), newProduct()];
    tokensSeen.length = 0;
    for (const [id, quantity] of [[a, 2], [b, 1], [c, 4]] as const) expect((await add(token, id, quantity)).errors).toEqual([]);
    const { cart, errors } = await add(token, d, 1);
    expect(errors).toEqual([]);
    expect(linesOf(cart)).toEqual([[a, 2], [b, 1], [c, 4], [d, 1]]);
    expect(tokensSeen).toEqual([token, token, token, token]);

    const read = await graphql(url, CART, {}, token);
    expect(read.data!['cart']).toEqual(cart);
  });

  it('sums the quantity when the same product is added again, keeping one line in its place', async () => {
    const { userId, token } = await customer();
    const [a, b] = [newProduct(), newProduct()];
    await add(token, a, 2);
    await add(token, b, 1);
    const { cart, errors } = await add(token, a, 3);
    expect(errors).toEqual([]);
    expect(linesOf(cart)).toEqual([[a, 5], [b, 1]]);
    expect(await lineRows(userId)).toBe(2);
  });

  it('updates a line, and removes it when updated to 0', async () => {
    const { token } = await customer();
    const [a, b] = [newProduct(), newProduct()];
    await add(token, a, 2);
    await add(token, b, 2);
    const updated = await update(token, a, 7);
    expect(updated.errors).toEqual([]);
    expect(linesOf(updated.cart)).toEqual([[a, 7], [b, 2]]);
    const zeroed = await update(token, a, 0);
    expect(zeroed.errors).toEqual([]);
    expect(linesOf(zeroed.cart)).toEqual([[b, 2]]);
  });

  it('removes a line', async () => {
    const { token } = await customer();
    const [a, b] = [newProduct(), newProduct()];
    await add(token, a);
    await add(token, b);
    const removed = await remove(token, b);
    expect(removed.errors).toEqual([]);
    expect(linesOf(removed.cart)).toEqual([[a, 1]]);
    expect(linesOf((await graphql(url, CART, {}, token)).data!['cart'])).toEqual([[a, 1]]);
  });

  it('reports invalid quantities as INVALID_QUANTITY and changes nothing', async () => {
    const { userId, token } = await customer();
    const a = newProduct();
    for (const quantity of [0, -1, 100]) {
      const { cart, errors } = await add(token, a, quantity);
      expect(cart).toBeNull();
      expect(errors).toEqual([{ code: 'INVALID_QUANTITY', message: expect.any(String), field: ['input', 'quantity'] }]);
    }
    expect(await cartRows(userId)).toBe(0);

    await add(token, a, 60);
    expect((await add(token, a, 40)).errors.map((e) => e.code)).toEqual(['INVALID_QUANTITY']);
    for (const quantity of [-1, 100]) expect((await update(token, a, quantity)).errors.map((e) => e.code)).toEqual(['INVALID_QUANTITY']);
    expect(await rows('select quantity as n from cart_line l join cart c on c.id = l.cart_id where c.user_id = ?', [userId])).toBe(60);
  });

  it('reports a malformed product id as INVALID_PRODUCT_ID and an unknown one as PRODUCT_NOT_FOUND', async () => {
    const { userId, token } = await customer();
    for (const run of [() => add(token, 'not-an-id'), () => update(token, '42', 1), () => remove(token, "x' or 1=1 --")]) {
      expect((await run()).errors).toEqual([{ code: 'INVALID_PRODUCT_ID', message: expect.any(String), field: ['input', 'productId'] }]);
    }
    const unknown = await add(token, crypto.randomUUID());
    expect(unknown.errors).toEqual([{ code: 'PRODUCT_NOT_FOUND', message: expect.any(String), field: ['input', 'productId'] }]);
    expect(await cartRows(userId)).toBe(0);
  });

  it('refuses more than is in stock with INSUFFICIENT_STOCK, saying how many are available', async () => {
    const { token } = await customer();
    const a = newProduct(5);
    const over = await add(token, a, 6);
    expect(over.errors).toEqual([{ code: 'INSUFFICIENT_STOCK', message: expect.stringMatching(/\b5 available/), field: ['input', 'quantity'] }]);
    await add(token, a, 4);
    const summed = await add(token, a, 2);
    expect(summed.errors[0]).toMatchObject({ code: 'INSUFFICIENT_STOCK', message: expect.stringMatching(/\b5 available.*4 already/) });
    expect((await update(token, a, 6)).errors[0]).toMatchObject({ code: 'INSUFFICIENT_STOCK', message: expect.stringMatching(/\b5 available/) });
    expect(linesOf((await update(token, a, 5)).cart)).toEqual([[a, 5]]);
    const soldOut = newProduct(0);
    expect((await add(token, soldOut)).errors[0]).toMatchObject({ code: 'INSUFFICIENT_STOCK', message: expect.stringMatching(/\b0 available/) });
  });

  it('reports update or removal of a product not in the cart as LINE_NOT_FOUND', async () => {
    const { token } = await customer();
    const [a, b] = [newProduct(), newProduct()];
    // No cart at all yet, then a cart without that product.
    expect((await update(token, a, 1)).errors.map((e) => e.code)).toEqual(['LINE_NOT_FOUND']);
    expect((await remove(token, a)).errors.map((e) => e.code)).toEqual(['LINE_NOT_FOUND']);
    await add(token, a);
    expect((await update(token, b, 1)).errors).toEqual([{ code: 'LINE_NOT_FOUND', message: expect.any(String), field: ['input', 'productId'] }]);
    expect((await update(token, b, 0)).errors.map((e) => e.code)).toEqual(['LINE_NOT_FOUND']);
    expect((await remove(token, b)).errors.map((e) => e.code)).toEqual(['LINE_NOT_FOUND']);
  });

  it('holds at most 50 different products (CART_FULL), while existing lines can still grow', async () => {
    const { userId, token } = await customer();
    const ids = Array.from({ length: 50 }, () => newProduct());
    for (const id of ids) expect((await add(token, id)).errors).toEqual([]);
    expect((await add(token, newProduct())).errors.map((e) => e.code)).toEqual(['CART_FULL']);
    expect((await add(token, ids[0]!)).errors).toEqual([]);
    expect(await lineRows(userId)).toBe(50);
  });

  it('applies 20 concurrent adds of one product by one customer to one cart, losing none', async () => {
    const { userId, token } = await customer();
    const a = newProduct();
    const results = await Promise.all(Array.from({ length: 20 }, () => add(token, a, 1)));
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(await cartRows(userId)).toBe(1);
    expect(linesOf((await graphql(url, CART, {}, token)).data!['cart'])).toEqual([[a, 20]]);
  });

  it('answers PRODUCT_LOOKUP_UNAVAILABLE, not an error, when catalog and inventory cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const unreachable = `http://127.0.0.1:${closedPort}/graphql`;
    const config = loadCartConfig({ ...serviceEnv(dbUrl), SUBGRAPH_CATALOG_URL: unreachable, SUBGRAPH_INVENTORY_URL: unreachable });
    const offline = await createCartApp({ config, logger: createLogger('cart', 'silent'), verifier: issuer.verifier });
    try {
      const offlineUrl = `${await offline.listen(0)}/graphql`;
      const { userId, token } = await customer();
      const response = await graphql(offlineUrl, ADD, { input: { productId: newProduct(), quantity: 1 } }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data!['addToCart']).toEqual({ cart: null, errors: [{ code: 'PRODUCT_LOOKUP_UNAVAILABLE', message: expect.any(String), field: ['input', 'productId'] }] });
      expect(await cartRows(userId)).toBe(0);
    } finally {
      await offline.close();
    }
  });

  it('refuses anonymous callers', async () => {
    expect(errorCodes(await graphql(url, CART))).toEqual(['UNAUTHENTICATED']);
    for (const [query, input] of [[ADD, { productId: newProduct(), quantity: 1 }], [UPDATE, { productId: newProduct(), quantity: 1 }], [REMOVE, { productId: newProduct() }]] as const) {
      const response = await graphql(url, query, { input });
      expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.data).toBeNull();
    }
  });

  describe('entity references', () => {
    const USER_CART = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id cart { ${LINES} } } } }`;
    const REFS = `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Cart { ${LINES} } ... on CartLine { id product { id } quantity } } }`;
    let owner: { userId: string; token: string };
    let cart: { id: string; lines: { id: string; product: { id: string }; quantity: number }[] };
    let product: string;

    beforeAll(async () => {
      owner = await customer();
      product = newProduct();
      cart = (await add(owner.token, product, 3)).cart!;
    });

    it('resolves User.cart for the owner and staff, FORBIDDEN for other customers', async () => {
      const r = [{ __typename: 'User', id: owner.userId }];
      const asOwner = await graphql(url, USER_CART, { r }, owner.token);
      expect(asOwner.errors).toBeUndefined();
      expect(asOwner.data!['_entities']).toEqual([{ id: owner.userId, cart }]);

      const asStaff = await graphql(url, USER_CART, { r }, await issuer.staff());
      expect(asStaff.errors).toBeUndefined();
      expect(asStaff.data!['_entities']).toEqual([{ id: owner.userId, cart }]);

      const asOther = await graphql(url, USER_CART, { r }, (await customer()).token);
      expect(errorCodes(asOther)).toEqual(['FORBIDDEN']);
      expect(asOther.data!['_entities']).toEqual([{ id: owner.userId, cart: null }]);

      expect(errorCodes(await graphql(url, USER_CART, { r }))).toEqual(['UNAUTHENTICATED']);
    });

    it('gives staff an empty cart for a user who has none, and batches many users', async () => {
      const other = await customer();
      const response = await graphql(url, USER_CART, { r: [{ __typename: 'User', id: other.userId }, { __typename: 'User', id: owner.userId }] }, await issuer.staff());
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual([{ id: other.userId, cart: { id: expect.any(String), lines: [] } }, { id: owner.userId, cart }]);
      expect(await cartRows(other.userId)).toBe(0);
    });

    it('resolves Cart and CartLine by id for the owner and staff', async () => {
      const [line] = cart.lines;
      expect(line).toMatchObject({ product: { id: product }, quantity: 3 });
      const r = [{ __typename: 'Cart', id: cart.id }, { __typename: 'CartLine', id: line!.id }];
      const expected = [{ __typename: 'Cart', ...cart }, { __typename: 'CartLine', ...line }];
      for (const token of [owner.token, await issuer.staff()]) {
        const response = await graphql(url, REFS, { r }, token);
        expect(response.errors).toBeUndefined();
        expect(response.data!['_entities']).toEqual(expected);
      }
    });

    it('keeps a line id stable while its quantity changes, and resolves unknown ids to null', async () => {
      const after = (await add(owner.token, product, 1)).cart!;
      expect(after.lines).toEqual([{ id: cart.lines[0]!.id, product: { id: product }, quantity: 4 }]);
      await update(owner.token, product, 3);

      const unknownLine = { __typename: 'CartLine', id: Buffer.alloc(32, 7).toString('base64url') };
      const response = await graphql(url, REFS, { r: [{ __typename: 'CartLine', id: 'garbage' }, unknownLine, { __typename: 'Cart', id: crypto.randomUUID() }] }, await issuer.staff());
      expect(response.errors).toBeUndefined();
      expect(response.data!['_entities']).toEqual([null, null, null]);
    });

    it('refuses other customers Cart and CartLine references (FORBIDDEN)', async () => {
      const other = await customer();
      for (const ref of [{ __typename: 'Cart', id: cart.id }, { __typename: 'CartLine', id: cart.lines[0]!.id }]) {
        const response = await graphql(url, REFS, { r: [ref] }, other.token);
        expect(errorCodes(response)).toEqual(['FORBIDDEN']);
      }
    });
  });

  it('reports ready while its database answers', async () => {
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});
