import { consumerOutcomes, errorCodes, eventProducer, graphql, newEvent, observe, type AnyEvent, type EventObserver, type EventProducer, type ServiceUnderTest, type TestIssuer } from '@shopgraph/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReviews } from './support.ts';

let service: ServiceUnderTest;
let url: string;
let issuer: TestIssuer;
let producer: EventProducer;
let observer: EventObserver;
let queries: string[] = [];
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startReviews({ onMessage: handled.record, onQuery: (sql) => queries.push(sql) });
  ({ url, issuer } = service);
  producer = eventProducer();
  observer = await observe('reviews.product.v1');
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

beforeEach(() => {
  queries = [];
});

const money = { amount: 1999, currency: 'USD' };
const address = { name: 'A Customer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };

/** Sends events one after the other, each handled by the consumer before the next is sent. */
async function deliverInOrder(...events: AnyEvent[]): Promise<void> {
  const seen = new Map<string, number>();
  for (const event of events) {
    const times = (seen.get(event.id) ?? 0) + 1;
    seen.set(event.id, times);
    await producer.send(event);
    const handlings = await handled.handled(event, times);
    expect(handlings.map((o) => o.result)).not.toContain('dead-lettered');
  }
}

/** A customer's order of products as orders publishes it: placed, then (unless `delivered` is false) delivered. */
async function order(userId: string, productIds: string[], { delivered = true } = {}) {
  const orderId = crypto.randomUUID();
  const placed = newEvent('orders.order.placed', orderId, {
    orderId,
    userId,
    lines: productIds.map((productId) => ({ productId, quantity: 1, unitPrice: money })),
    total: { amount: money.amount * productIds.length, currency: 'USD' },
    paymentMethod: 'pm_card_visa',
    shippingAddress: address,
  });
  let version = 0;
  const status = (s: 'PENDING' | 'CONFIRMED' | 'SHIPPED' | 'DELIVERED') =>
    newEvent('orders.order.status-changed', orderId, { orderId, userId, version: ++version, status: s, reason: null, at: new Date().toISOString() });
  await deliverInOrder(placed, status('PENDING'), status('CONFIRMED'), status('SHIPPED'));
  const deliver = () => deliverInOrder(status('DELIVERED'));
  if (delivered) await deliver();
  return { orderId, deliver };
}

/** A customer (id and token) who has received the products. */
async function buyer(...productIds: string[]) {
  const userId = crypto.randomUUID();
  await order(userId, productIds);
  return { userId, token: await issuer.customer(userId) };
}

const REVIEW = 'id rating title body verifiedPurchase createdAt updatedAt hiddenReason author { id } product { id }';
const PAYLOAD = `review { ${REVIEW} } errors { code message field }`;
const ADD = `mutation($input: AddReviewInput!) { addReview(input: $input) { ${PAYLOAD} } }`;
const UPDATE = `mutation($input: UpdateReviewInput!) { updateReview(input: $input) { ${PAYLOAD} } }`;
const DELETE = 'mutation($input: DeleteReviewInput!) { deleteReview(input: $input) { reviewId errors { code message field } } }';
const HIDE = `mutation($input: HideReviewInput!) { hideReview(input: $input) { ${PAYLOAD} } }`;
const PRODUCTS = `query($r: [_Any!]!, $first: Int, $after: String, $sort: ReviewSort) { _entities(representations: $r) { ... on Product {
  id rating { average count distribution } reviews(first: $first, after: $after, sort: $sort) { totalCount edges { cursor node { ${REVIEW} } } pageInfo { hasNextPage endCursor } }
} } }`;
const USER_REVIEWS = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id reviews(first: 10) { totalCount edges { node { ${REVIEW} } } } } } }`;

type Payload = { review: Record<string, any> | null; errors: { code: string; message: string; field: string[] }[] };

async function mutate(query: string, input: Record<string, unknown>, token: string): Promise<Payload> {
  const response = await graphql(url, query, { input }, token);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Payload;
}

const review = (productId: string, token: string, fields: Partial<{ rating: number; title: string; body: string }> = {}) =>
  mutate(ADD, { productId, rating: 4, title: 'Does the job', body: 'Sturdy, and arrived on time.', ...fields }, token);

async function productsView(productIds: string[], variables: Record<string, unknown> = {}, token?: string) {
  const response = await graphql(url, PRODUCTS, { r: productIds.map((id) => ({ __typename: 'Product', id })), ...variables }, token);
  expect(response.errors).toBeUndefined();
  return response.data!['_entities'] as { id: string; rating: { average: number | null; count: number; distribution: number[] }; reviews: any }[];
}
const productView = async (productId: string, variables?: Record<string, unknown>, token?: string) => (await productsView([productId], variables, token))[0]!;

describe('who may review', () => {
  it('refuses a customer who has not received the product (NOT_A_BUYER), accepts them once it is delivered, once', async () => {
    const productId = crypto.randomUUID();
    const userId = crypto.randomUUID();
    const token = await issuer.customer(userId);
    expect((await review(productId, token)).errors).toEqual([{ code: 'NOT_A_BUYER', message: expect.any(String), field: ['input', 'productId'] }]);

    // Ordered and on its way is not received.
    const placed = await order(userId, [productId, crypto.randomUUID()], { delivered: false });
    expect((await review(productId, token)).errors.map((e) => e.code)).toEqual(['NOT_A_BUYER']);

    await placed.deliver();
    const added = await review(productId, token, { rating: 5, title: '  Great kettle ', body: 'Boils fast.\nQuiet too.' });
    expect(added.errors).toEqual([]);
    expect(added.review).toEqual({
      id: expect.any(String), rating: 5, title: 'Great kettle', body: 'Boils fast.\nQuiet too.', verifiedPurchase: true,
      createdAt: expect.any(String), updatedAt: expect.any(String), hiddenReason: null, author: { id: userId }, product: { id: productId },
    });

    expect((await review(productId, token, { rating: 1 })).errors).toEqual([{ code: 'REVIEW_EXISTS', message: expect.any(String), field: ['input', 'productId'] }]);
    // Another customer's delivery of the product is not this one's.
    expect((await review(productId, await issuer.customer())).errors.map((e) => e.code)).toEqual(['NOT_A_BUYER']);
    expect((await productView(productId)).rating).toEqual({ average: 5, count: 1, distribution: [0, 0, 0, 0, 1] });
  });

  it('keeps one read model row per event however often it is delivered, whichever comes first', async () => {
    const productId = crypto.randomUUID();
    const userId = crypto.randomUUID();
    const orderId = crypto.randomUUID();
    const delivered = newEvent('orders.order.status-changed', orderId, { orderId, userId, version: 5, status: 'DELIVERED', reason: null, at: new Date().toISOString() });
    const placed = newEvent('orders.order.placed', orderId, { orderId, userId, lines: [{ productId, quantity: 2, unitPrice: money }], total: money, paymentMethod: 'pm_card_visa', shippingAddress: address });
    // Delivered before placed (a dead letter replayed late), each twice.
    await deliverInOrder(delivered, delivered, placed, placed);
    expect(handled.resultsOf(delivered)).toEqual(['processed', 'duplicate']);
    expect(handled.resultsOf(placed)).toEqual(['processed', 'duplicate']);
    expect(await service.sql('select product_id, user_id from purchased_line where order_id = ?', [orderId])).toEqual([{ product_id: productId, user_id: userId }]);
    expect((await review(productId, await issuer.customer(userId))).errors).toEqual([]);
  });

  it('needs a signed-in customer to review, and staff to hide', async () => {
    const response = await graphql(url, ADD, { input: { productId: crypto.randomUUID(), rating: 5, title: 't', body: '' } });
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    const hidden = await graphql(url, HIDE, { input: { reviewId: crypto.randomUUID(), reason: 'spam' } }, await issuer.customer());
    expect(errorCodes(hidden)).toEqual(['FORBIDDEN']);
  });
});

describe('bad input', () => {
  it('answers typed errors, stores nothing, and takes markup as text', async () => {
    const productId = crypto.randomUUID();
    const { token } = await buyer(productId);
    const codes = async (fields: Record<string, unknown>) => (await review(productId, token, fields)).errors.map((e) => [e.code, e.field]);
    expect(await codes({ rating: 0 })).toEqual([['INVALID_RATING', ['input', 'rating']]]);
    expect(await codes({ rating: 6 })).toEqual([['INVALID_RATING', ['input', 'rating']]]);
    expect(await codes({ body: 'x'.repeat(100 * 1024) })).toEqual([['INVALID_BODY', ['input', 'body']]]);
    expect(await codes({ body: 'nul \u0000 byte' })).toEqual([['INVALID_BODY', ['input', 'body']]]);
    expect(await codes({ title: '   ' })).toEqual([['INVALID_TITLE', ['input', 'title']]]);
    expect(await codes({ title: 'x'.repeat(201) })).toEqual([['INVALID_TITLE', ['input', 'title']]]);
    // A product reviews knows nothing of: not an id at all, or one nobody has received.
    expect((await review('not-a-product', token)).errors.map((e) => e.code)).toEqual(['PRODUCT_NOT_FOUND']);
    expect((await review(crypto.randomUUID(), token)).errors.map((e) => e.code)).toEqual(['NOT_A_BUYER']);
    expect(await service.sql('select id from review where product_id = ?', [productId])).toEqual([]);

    const markup = '<script>alert("x")</script><img src=x onerror=alert(1)> & done';
    const added = await review(productId, token, { title: '<b>Bold</b> claim', body: markup });
    expect(added.errors).toEqual([]);
    expect(added.review).toMatchObject({ title: '<b>Bold</b> claim', body: markup });
    expect(await service.sql('select title, body from review where product_id = ?', [productId])).toEqual([{ title: '<b>Bold</b> claim', body: markup }]);
  });

  it('refuses a bad page size or cursor of a listing as BAD_USER_INPUT', async () => {
    const productId = crypto.randomUUID();
    const r = [{ __typename: 'Product', id: productId }];
    const tooMany = await graphql(url, PRODUCTS, { r, first: 51 });
    expect(tooMany.errors?.map((e) => [e.extensions?.code, e.extensions?.reason])).toEqual([['BAD_USER_INPUT', 'INVALID_PAGE_SIZE']]);
    const forged = await graphql(url, PRODUCTS, { r, after: 'bm90IGEgY3Vyc29y' });
    expect(forged.errors?.map((e) => [e.extensions?.code, e.extensions?.reason])).toEqual([['BAD_USER_INPUT', 'INVALID_CURSOR']]);
  });
});

describe('ratings', () => {
  it('counts every one of concurrent reviews: average and distribution exact, the last event telling the same', async () => {
    const productId = crypto.randomUUID();
    const stars = [5, 5, 4, 3, 1, 5, 2, 4, 4, 5, 1, 3, 5, 4, 2, 5, 5, 3, 4, 1];
    const customers = await Promise.all(stars.map(() => buyer(productId)));
    const added = await Promise.all(customers.map(({ token }, i) => review(productId, token, { rating: stars[i]! })));
    expect(added.flatMap((a) => a.errors)).toEqual([]);

    const distribution = [1, 2, 3, 4, 5].map((n) => stars.filter((s) => s === n).length);
    const average = stars.reduce((a, b) => a + b, 0) / stars.length;
    expect((await productView(productId)).rating).toEqual({ average, count: 20, distribution });

    const published = await observer.waitFor((r) => r.key === productId, 20);
    expect(published.at(-1)!.envelope).toMatchObject({ type: 'reviews.product.rated', source: 'reviews', subject: productId, data: { productId, average, count: 20 } });
    expect(published.map((r) => (r.envelope.data as { count: number }).count)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('answers the ratings of many products with one query', async () => {
    const rated = crypto.randomUUID();
    const { token } = await buyer(rated);
    await review(rated, token, { rating: 3 });
    const others = Array.from({ length: 9 }, () => crypto.randomUUID());
    queries = [];
    const response = await graphql(url, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id rating { average count distribution } } } }', {
      r: [rated, ...others, 'not-an-id'].map((id) => ({ __typename: 'Product', id })),
    });
    expect(response.errors).toBeUndefined();
    const ratings = response.data!['_entities'] as { id: string; rating: unknown }[];
    expect(ratings[0]!.rating).toEqual({ average: 3, count: 1, distribution: [0, 0, 1, 0, 0] });
    expect(ratings.slice(1).map((p) => p.rating)).toEqual(Array(10).fill({ average: null, count: 0, distribution: [0, 0, 0, 0, 0] }));
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/from "product_rating"/);
  });

  it('moves the rating with an update and a deletion, for the author only', async () => {
    const productId = crypto.randomUUID();
    const author = await buyer(productId);
    const other = await buyer(productId);
    const { review: mine } = await review(productId, author.token, { rating: 2 });
    await review(productId, other.token, { rating: 4 });

    expect((await mutate(UPDATE, { reviewId: mine!.id, rating: 5 }, other.token)).errors.map((e) => e.code)).toEqual(['REVIEW_NOT_FOUND']);
    expect((await mutate(UPDATE, { reviewId: mine!.id, rating: 0 }, author.token)).errors.map((e) => e.code)).toEqual(['INVALID_RATING']);
    const updated = await mutate(UPDATE, { reviewId: mine!.id, rating: 5, body: 'Better after a week.' }, author.token);
    expect(updated).toMatchObject({ errors: [], review: { rating: 5, title: 'Does the job', body: 'Better after a week.' } });
    expect((await productView(productId)).rating).toEqual({ average: 4.5, count: 2, distribution: [0, 0, 0, 1, 1] });

    expect((await mutate(DELETE, { reviewId: mine!.id }, other.token)).errors.map((e) => e.code)).toEqual(['REVIEW_NOT_FOUND']);
    expect(await mutate(DELETE, { reviewId: mine!.id }, author.token)).toEqual({ reviewId: mine!.id, errors: [] });
    expect((await productView(productId)).rating).toEqual({ average: 4, count: 1, distribution: [0, 0, 0, 1, 0] });
  });
});

describe('hidden reviews', () => {
  it('leave the product\'s listing and rating; their author and staff still see them, with the reason', async () => {
    const productId = crypto.randomUUID();
    const author = await buyer(productId);
    const other = await buyer(productId);
    const { review: spam } = await review(productId, author.token, { rating: 1, title: 'Buy cheap watches at…' });
    await review(productId, other.token, { rating: 5 });
    const staff = await issuer.staff();

    expect((await mutate(HIDE, { reviewId: spam!.id, reason: ' ' }, staff)).errors.map((e) => e.code)).toEqual(['INVALID_REASON']);
    expect((await mutate(HIDE, { reviewId: crypto.randomUUID(), reason: 'Spam' }, staff)).errors.map((e) => e.code)).toEqual(['REVIEW_NOT_FOUND']);
    const hidden = await mutate(HIDE, { reviewId: spam!.id, reason: 'Advertising' }, staff);
    expect(hidden).toMatchObject({ errors: [], review: { id: spam!.id, hiddenReason: 'Advertising' } });
    // Again: the reason changes, the rating does not move twice.
    await mutate(HIDE, { reviewId: spam!.id, reason: 'Advertising, twice' }, staff);

    const view = await productView(productId);
    expect(view.rating).toEqual({ average: 5, count: 1, distribution: [0, 0, 0, 0, 1] });
    expect(view.reviews.totalCount).toBe(1);
    expect(view.reviews.edges.map((e: any) => e.node.rating)).toEqual([5]);

    const reviewsOf = async (token?: string) => {
      const response = await graphql(url, USER_REVIEWS, { r: [{ __typename: 'User', id: author.userId }] }, token);
      expect(response.errors).toBeUndefined();
      return response.data!['_entities'][0].reviews as { totalCount: number; edges: { node: { hiddenReason: string | null } }[] };
    };
    expect((await reviewsOf(author.token)).edges.map((e) => e.node.hiddenReason)).toEqual(['Advertising, twice']);
    expect((await reviewsOf(staff)).totalCount).toBe(1);
    expect(await reviewsOf(other.token)).toEqual({ totalCount: 0, edges: [] });
    expect(await reviewsOf()).toEqual({ totalCount: 0, edges: [] });

    // Hidden or not, it is the author's one review of the product.
    expect((await review(productId, author.token)).errors.map((e) => e.code)).toEqual(['REVIEW_EXISTS']);
  });
});

describe('listing', () => {
  it('pages a product\'s reviews in each sort, newest first among equals', async () => {
    const productId = crypto.randomUUID();
    const stars = [3, 5, 1, 5, 2];
    const ids: string[] = [];
    for (const rating of stars) {
      const { token } = await buyer(productId);
      ids.push((await review(productId, token, { rating })).review!.id);
    }
    const all = async (sort: string) => {
      const seen: [number, string][] = [];
      let after: string | null = null;
      do {
        const { reviews }: { reviews: any } = await productView(productId, { first: 2, after, sort });
        seen.push(...reviews.edges.map((e: any) => [e.node.rating, e.node.id] as [number, string]));
        expect(reviews.totalCount).toBe(5);
        after = reviews.pageInfo.hasNextPage ? reviews.pageInfo.endCursor : null;
      } while (after);
      return seen;
    };
    const byId = (i: number): [number, string] => [stars[i]!, ids[i]!];
    expect(await all('NEWEST')).toEqual([4, 3, 2, 1, 0].map(byId));
    expect(await all('HIGHEST')).toEqual([3, 1, 0, 4, 2].map(byId));
    expect(await all('LOWEST')).toEqual([2, 4, 0, 3, 1].map(byId));

    const { reviews } = await productView(productId, { first: 1, sort: 'NEWEST' });
    const mixed = await graphql(url, PRODUCTS, { r: [{ __typename: 'Product', id: productId }], after: reviews.pageInfo.endCursor, sort: 'HIGHEST' });
    expect(mixed.errors?.map((e) => e.extensions?.reason)).toEqual(['INVALID_CURSOR']);
  });
});
