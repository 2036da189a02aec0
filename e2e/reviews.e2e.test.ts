import { elasticsearchUrl, graphql, testIndexPrefix, testLogger } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIndex } from '../subgraphs/search/src/clients/product-index.client.ts';
import { productSource } from '../subgraphs/search/src/clients/product-source.client.ts';
import { rebuildIndex } from '../subgraphs/search/src/domain/reindex.service.ts';
import { operation } from './operations.ts';
import { createProduct, placeOrder, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// Reviews through the router: a customer may review a product once an order of theirs with it was
// delivered (reviews learns it from orders' events), and the product's page shows catalog's name
// with reviews' rating and reviews, their authors' names from accounts, in one query. The rating
// reaches the search index through reviews' events.

let graph: RunningSupergraph;
let staff: string;

beforeAll(async () => {
  graph = await startSupergraph();
  staff = await staffToken(graph);
});

afterAll(async () => {
  await graph?.close();
});

const call = async (name: string, variables: Record<string, unknown>, token?: string) => {
  const response = await graphql(graph.routerUrl, operation(name), variables, token);
  expect(response.errors).toBeUndefined();
  return response.data!;
};

async function customer(name: string): Promise<string> {
  const registered = await call('Register', { input: { email: `${crypto.randomUUID()}@e2e.test`, password: 'correct horse battery 9', name } });
  expect(registered['register'].errors).toEqual([]);
  return registered['register'].accessToken;
}

/** Orders one unit of the product, and has it shipped and delivered by staff. */
async function receive(token: string, productId: string): Promise<void> {
  const orderId = await placeOrder(graph.routerUrl, token, productId);
  await until(`order ${orderId} confirmed with a shipment`, async () => (await call('Order', { id: orderId }, token))['order']?.shipment?.status === 'PENDING');
  expect((await call('MarkShipped', { input: { orderId } }, staff))['markShipped'].errors).toEqual([]);
  expect((await call('MarkDelivered', { input: { orderId } }, staff))['markDelivered'].errors).toEqual([]);
  await until(`order ${orderId} delivered`, async () => (await call('Order', { id: orderId }, token))['order'].status === 'DELIVERED');
}

const addReview = async (token: string, input: Record<string, unknown>) => (await call('AddReview', { input }, token))['addReview'];

describe('reviews through the router', () => {
  it('lets a customer review a product once it was delivered, and shows Product { name rating reviews } in one query', async () => {
    const word = `kettle${crypto.randomUUID().slice(0, 8)}`;
    const productId = await createProduct(graph, staff, { sku: `E2E-REVIEW-${crypto.randomUUID()}`, name: `Copper ${word}`, price: 4_500, stock: 5 });
    const ada = await customer('Ada Reviewer');
    const review = { productId, rating: 4, title: 'Boils <fast>', body: '<script>alert(1)</script> Good kettle.' };

    expect((await addReview(ada, review)).errors).toEqual([{ code: 'NOT_A_BUYER', message: expect.any(String), field: ['input', 'productId'] }]);

    await receive(ada, productId);
    // Orders has said DELIVERED; reviews learns it from the same event, a moment later or already.
    const added = await until('the review accepted', async () => {
      const result = await addReview(ada, review);
      if (result.errors[0]?.code === 'NOT_A_BUYER') return undefined;
      return result;
    });
    expect(added.errors).toEqual([]);
    expect(added.review).toMatchObject({ rating: 4, title: 'Boils <fast>', body: '<script>alert(1)</script> Good kettle.', verifiedPurchase: true, author: { name: 'Ada Reviewer' } });
    expect((await addReview(ada, { ...review, rating: 5 })).errors.map((e: { code: string }) => e.code)).toEqual(['REVIEW_EXISTS']);

    const grace = await customer('Grace Reviewer');
    await receive(grace, productId);
    const second = await until('the second review accepted', async () => {
      const result = await addReview(grace, { productId, rating: 1, title: 'Leaks', body: '' });
      return result.errors[0]?.code === 'NOT_A_BUYER' ? undefined : result;
    });
    expect(second.errors).toEqual([]);

    const { product } = await call('ProductReviews', { id: productId, first: 10, sort: 'HIGHEST' });
    expect(product).toEqual({
      id: productId,
      name: `Copper ${word}`,
      rating: { average: 2.5, count: 2, distribution: [1, 0, 0, 1, 0] },
      reviews: {
        totalCount: 2,
        edges: [
          { cursor: expect.any(String), node: { ...added.review, author: { id: expect.any(String), name: 'Ada Reviewer' } } },
          { cursor: expect.any(String), node: expect.objectContaining({ rating: 1, title: 'Leaks', author: { id: expect.any(String), name: 'Grace Reviewer' } }) },
        ],
        pageInfo: { hasNextPage: false, endCursor: expect.any(String) },
      },
    });

    // The rating reaches the search index: filter and sort by it.
    const byRating = async (minRating: number) => (await call('SearchProductsByRating', { query: word, first: 5, minRating }))['searchProducts'];
    await until('the rating indexed', async () => (await byRating(2.5)).total === 1);
    expect((await byRating(2.5)).edges[0].node).toEqual({ id: productId, name: `Copper ${word}`, rating: { average: 2.5, count: 2, distribution: [1, 0, 0, 1, 0] } });

    // Staff hide the one-star review: it leaves the average, the listing and (soon) the index's figure.
    const hidden = await call('HideReview', { input: { reviewId: second.review.id, reason: 'Not about this product' } }, staff);
    expect(hidden['hideReview']).toEqual({ review: { id: second.review.id, hiddenReason: 'Not about this product' }, errors: [] });
    const after = (await call('ProductReviews', { id: productId, first: 10 }))['product'];
    expect(after.rating).toEqual({ average: 4, count: 1, distribution: [0, 0, 0, 1, 0] });
    expect(after.reviews.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([added.review.id]);
    await until('the new rating indexed', async () => (await byRating(4)).total === 1);

    // A rebuild of the index (`search:reindex`) takes ratings from reviews: the product keeps its own.
    const index = productIndex({ url: elasticsearchUrl(), prefix: testIndexPrefix, searchTimeoutMs: 2_000, indexingTimeoutMs: 10_000, logger: testLogger('reindex') });
    const source = productSource({ urls: { catalog: graph.subgraphUrls['catalog']!, inventory: graph.subgraphUrls['inventory']!, reviews: graph.subgraphUrls['reviews']! }, timeoutMs: 10_000, logger: testLogger('reindex') });
    try {
      await rebuildIndex({ index, products: () => source.products(), drainMs: 0 });
    } finally {
      await index.close();
    }
    expect((await byRating(4)).edges.map((e: { node: { id: string; rating: { average: number } } }) => [e.node.id, e.node.rating.average])).toEqual([[productId, 4]]);

    // Its author still sees it, with the reason.
    const mine = (await call('MyReviews', { first: 10 }, grace))['me'].reviews;
    expect(mine.edges.map((e: { node: { hiddenReason: string | null } }) => e.node.hiddenReason)).toEqual(['Not about this product']);
  });
});
