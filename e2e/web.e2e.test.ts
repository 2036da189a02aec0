import { graphql } from '@shopgraph/testkit';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { createProduct, staffToken } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The web client (web/, served by the router) in headless Chromium: a customer signs in, adds a
// product, pays with a test card and sees the order's final status appear. Chromium is Debian's
// (`.ci/run` installs it); without it these tests fail, they never skip.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SETTLED = ['CONFIRMED', 'PAYMENT_FAILED', 'OUT_OF_STOCK'];

let graph: RunningSupergraph;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  graph = await startSupergraph();
  await createProduct(graph, await staffToken(graph), { sku: 'WEB-KETTLE', name: 'Kettle', price: 3_999, stock: 5 });
});

afterAll(async () => {
  await browser?.close();
  await graph?.close();
});

/** A new customer, registered through the API, signed in on a fresh page. */
async function signedInPage(): Promise<{ page: Page; problems: string[] }> {
  const customer = { email: `web-${crypto.randomUUID()}@e2e.test`, password: 'Web-e2e-password-1', name: 'Grace Hopper' };
  const registered = await graphql(graph.routerUrl, operation('Register'), { input: customer });
  expect(registered.data?.['register'].errors).toEqual([]);

  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));

  const response = await page.goto(new URL('/', graph.routerUrl).href);
  expect(response?.status()).toBe(200);
  await page.getByLabel('Email').fill(customer.email);
  await page.getByLabel('Password').fill(customer.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-name').filter({ hasText: customer.name }).waitFor();
  return { page, problems };
}

async function checkout(page: Page, card: string): Promise<string> {
  await page.getByRole('button', { name: 'Add Kettle to cart' }).click();
  await page.getByTestId('subtotal').filter({ hasText: '$39.99' }).waitFor();
  await page.locator(`input[name="paymentMethod"][value="${card}"]`).check();
  await page.getByRole('button', { name: 'Place order' }).click();
  const status = page.getByTestId('order-status');
  await status.filter({ hasText: new RegExp(`^(${SETTLED.join('|')})$`) }).waitFor({ timeout: 30_000 });
  return (await status.textContent())!;
}

describe('web client', () => {
  it('signs in, shows errors from login', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(new URL('/', graph.routerUrl).href);
    await page.getByLabel('Email').fill('nobody@e2e.test');
    await page.getByLabel('Password').fill('Wrong-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /./ }).first().waitFor();
    expect(await page.locator('#sign-in-error').textContent()).not.toBe('');
    expect(await page.locator('#shop').isHidden()).toBe(true);
  });

  it('places an order with pm_card_visa and sees it CONFIRMED', async () => {
    const { page, problems } = await signedInPage();
    expect(await checkout(page, 'pm_card_visa')).toBe('CONFIRMED');
    const timeline = await page.getByRole('list', { name: 'Status history' }).locator('li strong').allTextContents();
    expect(timeline).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    // The order took the lines out of the cart (and keeps them, confirmed).
    await page.getByTestId('subtotal').filter({ hasText: '—' }).waitFor();
    await page.screenshot({ path: '/tmp/web-e2e-confirmed.png', fullPage: true });
    expect(problems).toEqual([]);
  });

  it('places an order with pm_card_chargeDeclined and sees PAYMENT_FAILED', async () => {
    const { page, problems } = await signedInPage();
    expect(await checkout(page, 'pm_card_chargeDeclined')).toBe('PAYMENT_FAILED');
    expect(await page.getByRole('list', { name: 'Status history' }).textContent()).toMatch(/declined/i);
    await page.screenshot({ path: '/tmp/web-e2e-declined.png', fullPage: true });
    expect(problems).toEqual([]);
  });
});
