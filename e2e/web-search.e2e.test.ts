import { elasticsearchUrl, graphql, outageProxy, type Outage } from '@shopgraph/testkit';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { staffToken, until } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The web client's product search in headless Chromium: suggestions while typing (a combobox
// driven by keys or mouse), results with facets that narrow them, paging, adding a result to
// the cart, and the messages when a search is refused or search is down (Elasticsearch is reached
// through a proxy the test can cut). Products are created through the API as staff; the search
// index follows them by events, so the tests start once the API finds them all.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let graph: RunningSupergraph;
let elasticsearch: Outage;
let browser: Browser;
let staff: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  elasticsearch = await outageProxy(elasticsearchUrl());
  graph = await startSupergraph({ ELASTICSEARCH_URL: elasticsearch.url });
  staff = await staffToken(graph);
  const coffee = await createCategory('Coffee');
  const tableware = await createCategory('Tableware');
  await createProduct({ sku: 'WS-ESPRESSO-MACHINE', name: 'Espresso Machine', price: 24_900, stock: 3, categoryId: coffee });
  await createProduct({ sku: 'WS-ESPRESSO-BEANS', name: 'Espresso Beans', price: 1_299, stock: 0, categoryId: coffee });
  await createProduct({ sku: 'WS-ESPRESSO-CUPS', name: 'Espresso Cups', price: 1_999, stock: 8, categoryId: tableware });
  await createProduct({ sku: 'WS-TEAPOT', name: 'Teapot', price: 3_499, stock: 4, categoryId: tableware });
  for (let i = 1; i <= 12; i += 1) await createProduct({ sku: `WS-MUG-${i}`, name: `Enamel Mug No. ${i}`, price: 900 + i, stock: 5, categoryId: tableware });
  await searchable('espresso', 3, 2);
  await searchable('enamel mug', 12, 12);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await graph?.close();
  await elasticsearch?.close();
});

async function createCategory(name: string): Promise<string> {
  const created = await graphql(graph.routerUrl, operation('CreateCategory'), { input: { name, slug: name.toLowerCase() } }, staff);
  expect(created.data?.['createCategory'].errors).toEqual([]);
  return created.data!['createCategory'].category.id;
}

async function createProduct(input: { sku: string; name: string; price: number; stock: number; categoryId: string }): Promise<void> {
  const created = await graphql(graph.routerUrl, operation('CreateProduct'), { input: { sku: input.sku, name: input.name, categoryId: input.categoryId, price: { amount: input.price, currency: 'USD' } } }, staff);
  expect(created.data?.['createProduct'].errors).toEqual([]);
  const stocked = await graphql(graph.routerUrl, operation('SetStock'), { input: { productId: created.data!['createProduct'].product.id, quantity: input.stock } }, staff);
  expect(stocked.data?.['setStock'].errors).toEqual([]);
}

/** Waits until the search index has caught up with the products created, and with their stock (from other events). */
async function searchable(query: string, total: number, inStock: number): Promise<void> {
  const count = async (filter?: object) => (await graphql(graph.routerUrl, operation('SearchProducts'), { query, filter })).data?.['searchProducts']?.total;
  await until(`${total} products found for "${query}", ${inStock} in stock`, async () => (await count()) === total && (await count({ inStock: true })) === inStock);
}

/** A new customer, registered through the API, signed in on a fresh page. */
async function signedInPage(): Promise<{ page: Page; problems: string[] }> {
  const customer = { email: `web-search-${crypto.randomUUID()}@e2e.test`, password: 'Web-e2e-password-1', name: 'Grace Hopper' };
  const registered = await graphql(graph.routerUrl, operation('Register'), { input: customer });
  expect(registered.data?.['register'].errors).toEqual([]);

  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));

  await page.goto(new URL('/', graph.routerUrl).href);
  await page.getByLabel('Email').fill(customer.email);
  await page.getByLabel('Password').fill(customer.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-name').filter({ hasText: customer.name }).waitFor();
  return { page, problems };
}

const box = (page: Page) => page.getByRole('combobox', { name: 'Find a product' });
const suggestions = (page: Page) => page.getByRole('listbox', { name: 'Suggestions' }).getByRole('option');
const results = (page: Page) => page.locator('#search-products th .product-name');
const summary = (page: Page) => page.locator('#search-summary');

describe('web client search', () => {
  it('suggests while typing a misspelt word, finds the product, narrows by facets and adds a result to the cart', async () => {
    const { page, problems } = await signedInPage();
    let suggestionRequests = 0;
    page.on('request', (request) => {
      if (request.postData()?.includes('searchSuggestions')) suggestionRequests += 1;
    });
    await box(page).pressSequentially('espreso', { delay: 30 });
    // The answer for the whole word: a busy machine can stretch a gap between keys past the 150 ms
    // pause, and then an earlier prefix's suggestions show first.
    await suggestions(page).filter({ hasText: /espresso/i }).first().waitFor();
    // Asked when typing paused, not on each of the 7 keys (30 ms apart).
    expect(suggestionRequests).toBeLessThan(5);
    expect(await box(page).getAttribute('aria-expanded')).toBe('true');
    await page.screenshot({ path: '/tmp/web-e2e-search-suggestions.png' });

    // Enter with no suggestion chosen searches for what was typed, typo and all.
    await box(page).press('Enter');
    await summary(page).filter({ hasText: /^3 results for “espreso”\.$/ }).waitFor();
    expect(await page.getByRole('listbox', { name: 'Suggestions' }).isHidden()).toBe(true);
    expect((await results(page).allTextContents()).sort()).toEqual(['Espresso Beans', 'Espresso Cups', 'Espresso Machine']);
    const machine = page.locator('#search-products tr', { hasText: 'Espresso Machine' });
    expect(await machine.locator('td').allTextContents()).toEqual(['$249.00', '3', 'Add to cart']);
    expect(await page.locator('#search-products tr', { hasText: 'Espresso Beans' }).locator('td').nth(1).textContent()).toBe('Sold out');

    // A category facet narrows; the in-stock facet narrows further; pressing a facet again widens.
    const facets = page.getByRole('group', { name: 'Narrow the results' });
    await facets.getByRole('button', { name: /^Coffee \(2\)$/ }).click();
    await summary(page).filter({ hasText: '2 results' }).waitFor();
    expect((await results(page).allTextContents()).sort()).toEqual(['Espresso Beans', 'Espresso Machine']);
    expect(await facets.getByRole('button', { name: /^Coffee/ }).getAttribute('aria-pressed')).toBe('true');
    await facets.getByRole('button', { name: 'In stock only' }).click();
    await summary(page).filter({ hasText: /^1 result for “espreso” \(filtered\)\.$/ }).waitFor();
    expect(await results(page).allTextContents()).toEqual(['Espresso Machine']);

    await page.getByRole('button', { name: 'Add Espresso Machine to cart' }).click();
    await page.getByTestId('subtotal').filter({ hasText: '$249.00' }).waitFor();
    expect(await page.locator('#cart-lines').textContent()).toContain('Espresso Machine × 1');

    await page.screenshot({ path: '/tmp/web-e2e-search.png', fullPage: true });
    expect(problems).toEqual([]);
  });

  it('chooses a suggestion with the arrow keys and Enter, then pages with More results', async () => {
    const { page, problems } = await signedInPage();
    await box(page).pressSequentially('enam', { delay: 40 });
    await suggestions(page).first().waitFor();
    await box(page).press('ArrowDown');
    const first = suggestions(page).first();
    expect(await first.getAttribute('aria-selected')).toBe('true');
    expect(await box(page).getAttribute('aria-activedescendant')).toBe(await first.getAttribute('id'));
    const chosen = (await first.textContent())!;
    await box(page).press('Enter');
    expect(await box(page).inputValue()).toBe(chosen);

    await summary(page).filter({ hasText: /results for/ }).waitFor();
    const total = Number((await summary(page).textContent())!.match(/^(\d+) results/)![1]);
    expect(total).toBeGreaterThan(10);
    expect(await results(page).count()).toBe(10);
    await page.getByRole('button', { name: 'More results' }).click();
    await until('the next page', async () => (await results(page).count()) === total);
    expect(new Set(await results(page).allTextContents()).size).toBe(total); // no result twice
    expect(await page.getByRole('button', { name: 'More results' }).isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('shows a search the API refuses as a message, not results', async () => {
    const { page, problems } = await signedInPage();
    await box(page).fill('teapot');
    await box(page).press('Enter');
    await summary(page).filter({ hasText: '1 result for “teapot”' }).waitFor();

    await box(page).fill('teapot '.repeat(30)); // over the API's 200 characters: BAD_USER_INPUT
    await box(page).press('Enter');
    const error = page.getByRole('alert').filter({ hasText: /That search could not be run: .*200 characters/ });
    await error.waitFor();
    expect(await page.locator('#search-results').isHidden()).toBe(true); // the teapot is not the answer to this search
    expect(problems).toEqual([]);
  });

  it('says so while search is down, and the rest of the page keeps working', async () => {
    const { page, problems } = await signedInPage();
    const unavailable = page.getByRole('alert').filter({ hasText: 'Search is unavailable right now' });
    elasticsearch.cut();
    try {
      await box(page).fill('teapot');
      await box(page).press('Enter'); // SEARCH_UNAVAILABLE
      await unavailable.waitFor();
      expect(await page.locator('#search-results').isHidden()).toBe(true);
      // The product list and the cart do not depend on search.
      await page.getByRole('button', { name: 'Add Enamel Mug No. 1 to cart' }).click();
      await page.getByTestId('subtotal').filter({ hasText: '$9.01' }).waitFor();
      await page.screenshot({ path: '/tmp/web-e2e-search-down.png', fullPage: true });
    } finally {
      elasticsearch.restore();
    }
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await summary(page).filter({ hasText: '1 result for “teapot”' }).waitFor();
    expect(await unavailable.count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
