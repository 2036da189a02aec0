import { graphql } from '@shopgraph/testkit';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { createProduct, placeOrder, staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The web client in headless Chromium shows a product's rating beside it and, on request, its
// reviews: customers' text as text, markup and all, never as HTML.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const MARKUP = '<img src=x onerror="window.injected=true"><script>window.injected=true</script>';

let graph: RunningSupergraph;
let browser: Browser;
const customer = { email: `web-reviews-${crypto.randomUUID()}@e2e.test`, password: 'Web-e2e-password-1', name: 'Mary <b>Jackson</b>' };

const call = async (name: string, variables: Record<string, unknown>, token?: string) => {
  const response = await graphql(graph.routerUrl, operation(name), variables, token);
  expect(response.errors).toBeUndefined();
  return response.data!;
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  graph = await startSupergraph();
  const staff = await staffToken(graph);
  const productId = await createProduct(graph, staff, { sku: 'WEB-TEAPOT', name: 'Teapot', price: 2_500, stock: 5 });

  // A customer who received the teapot reviews it, through the API.
  const token = (await call('Register', { input: customer }))['register'].accessToken;
  const orderId = await placeOrder(graph.routerUrl, token, productId);
  await until('the shipment', async () => (await call('Order', { id: orderId }, token))['order'].shipment?.status === 'PENDING');
  await call('MarkShipped', { input: { orderId } }, staff);
  await call('MarkDelivered', { input: { orderId } }, staff);
  await until('the review accepted', async () => {
    const { addReview } = await call('AddReview', { input: { productId, rating: 4, title: 'Pours <i>well</i>', body: `No drips.\n${MARKUP}` } }, token);
    return addReview.errors.length === 0;
  });
});

afterAll(async () => {
  await browser?.close();
  await graph?.close();
});

describe('web client: ratings and reviews', () => {
  it('shows a product\'s rating in the list and its reviews as text', async () => {
    const page = await (await browser.newContext({ locale: 'en-US', viewport: { width: 900, height: 1200 } })).newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(new URL('/', graph.routerUrl).href);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    const rating = page.getByRole('button', { name: 'Reviews of Teapot: ★ 4.0 (1 review)' });
    await rating.waitFor();
    await rating.click();

    await page.getByTestId('rating-summary').filter({ hasText: '★ 4.0 (1 review)' }).waitFor();
    expect(await page.locator('#reviews-title').textContent()).toBe('Reviews of Teapot');
    expect(await page.getByRole('list', { name: 'Ratings by stars' }).locator('li').allTextContents()).toEqual(['★★★★★ 0', '★★★★☆ 1', '★★★☆☆ 0', '★★☆☆☆ 0', '★☆☆☆☆ 0']);
    const review = page.getByRole('list', { name: 'Reviews' }).locator('li');
    expect(await review.count()).toBe(1);
    expect(await review.getByRole('img', { name: '4 out of 5 stars' }).count()).toBe(1);
    expect(await review.locator('strong').textContent()).toBe('Pours <i>well</i>');
    expect(await review.locator('.review-body').textContent()).toBe(`No drips.\n${MARKUP}`);
    expect(await review.locator('.hint').textContent()).toMatch(/^Mary <b>Jackson<\/b> · .+ · Verified purchase$/);
    // The markup stayed text: no element was made from it, and nothing ran.
    expect(await page.locator('#reviews img, #reviews script, #reviews i, #reviews b').count()).toBe(0);
    expect(await page.evaluate(() => (window as { injected?: boolean }).injected)).toBeUndefined();

    await page.screenshot({ path: '/tmp/web-e2e-reviews.png', fullPage: true });
    expect(problems).toEqual([]);
  });
});
