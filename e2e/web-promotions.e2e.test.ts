import { graphql } from '@shopgraph/testkit';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { createProduct, placeOrder, staffToken } from './support.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// The web client's coupons and payment reviews in headless Chromium: a customer applies a coupon
// staff created (a code that does not exist or is used up shows its error beside the field, one
// that does not apply to the cart yet says why), sees the discount and the total, and the order
// keeps them; an order fraud screening holds shows UNDER_REVIEW and follows staff's decision live.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let graph: RunningSupergraph;
let browser: Browser;
let staff: string;
let kettle: string;
/** The messages the API gives for an unknown and a used-up code, as a customer gets them. */
let notFoundMessage: string;
let exhaustedMessage: string;

/** A staff or customer call through the router that must succeed; its data. */
async function call(document: string, variables: Record<string, unknown>, token?: string) {
  const response = await graphql(graph.routerUrl, document, variables, token);
  expect(response.errors).toBeUndefined();
  return response.data!;
}

async function register(prefix: string, name = 'Grace Hopper') {
  const customer = { email: `${prefix}-${crypto.randomUUID()}@e2e.test`, password: 'Web-e2e-password-1', name };
  const { register: registered } = await call(operation('Register'), { input: customer });
  expect(registered.errors).toEqual([]);
  return { ...customer, token: registered.accessToken as string };
}

async function createCoupon(input: Record<string, unknown>): Promise<void> {
  const { createCoupon: created } = await call(operation('CreateCoupon'), { input }, staff);
  expect(created.errors).toEqual([]);
}

/** The one error applyCoupon gives a fresh customer for `code`. */
async function applyError(code: string): Promise<{ code: string; message: string }> {
  const { token } = await register('web-promotions-api');
  const { applyCoupon } = await call(operation('ApplyCoupon'), { input: { code } }, token);
  expect(applyCoupon.errors).toHaveLength(1);
  return applyCoupon.errors[0];
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  graph = await startSupergraph();
  staff = await staffToken(graph);
  kettle = await createProduct(graph, staff, { sku: 'WEB-PROMO-KETTLE', name: 'Kettle', price: 3_999, stock: 50 });

  await createCoupon({ code: 'save10', description: '10% off everything', kind: 'PERCENTAGE', percentOff: 10 });
  await createCoupon({ code: 'BIG-BASKET', description: '$5 off orders of $100 or more', kind: 'FIXED_AMOUNT', amountOff: { amount: 500, currency: 'USD' }, minimumSubtotal: { amount: 10_000, currency: 'USD' } });
  // One use in all, taken by another customer's order (a use in flight counts).
  await createCoupon({ code: 'ONLY-ONCE', description: 'The first customer only', kind: 'PERCENTAGE', percentOff: 50, usageLimit: 1 });
  const first = await register('web-promotions-first');
  expect((await call(operation('ApplyCoupon'), { input: { code: 'ONLY-ONCE' } }, first.token))['applyCoupon'].errors).toEqual([]);
  await placeOrder(graph.routerUrl, first.token, kettle);

  const notFound = await applyError('NO-SUCH-CODE');
  expect(notFound.code).toBe('COUPON_NOT_FOUND');
  notFoundMessage = notFound.message;
  const exhausted = await applyError('only-once');
  expect(exhausted.code).toBe('COUPON_EXHAUSTED');
  exhaustedMessage = exhausted.message;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await graph?.close();
});

/** A new customer, registered through the API (its token for API calls), signed in on a fresh page. */
async function signedInPage(): Promise<{ page: Page; problems: string[]; token: string }> {
  const customer = await register('web-promotions');
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
  return { page, problems, token: customer.token };
}

const text = async (page: Page, testId: string) => (await page.getByTestId(testId).textContent())?.trim();

async function addKettle(page: Page, subtotal: string): Promise<void> {
  await page.getByRole('button', { name: 'Add Kettle to cart' }).click();
  await page.getByTestId('subtotal').filter({ hasText: subtotal }).waitFor();
}

async function applyCode(page: Page, code: string): Promise<void> {
  await page.getByLabel('Coupon code').fill(code);
  await page.getByRole('button', { name: 'Apply' }).click();
}

/** Places the cart with the card and waits for the order's status to be `status`; the order's id. */
async function placeAndWait(page: Page, status: string, card = 'pm_card_visa'): Promise<string> {
  await page.locator(`input[name="paymentMethod"][value="${card}"]`).check();
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByTestId('order-status').filter({ hasText: new RegExp(`^${status}$`) }).waitFor({ timeout: 30_000 });
  return (await page.locator('#order-id').textContent())!;
}

const timeline = (page: Page) => page.getByRole('list', { name: 'Status history' }).locator('li strong').allTextContents();

describe('web client: coupons', () => {
  it('shows a bad code\'s error, applies a coupon, shows the discount and total, and the order keeps them', async () => {
    const { page, problems, token } = await signedInPage();
    await addKettle(page, '$39.99');
    expect(await text(page, 'total')).toBe('$39.99');
    expect(await page.getByTestId('discount').isHidden()).toBe(true);

    // Errors beside the field, as the API words them; the field stays for another try.
    const error = page.locator('#coupon-error');
    await applyCode(page, 'no-such-code');
    await error.filter({ hasText: notFoundMessage }).waitFor();
    expect(await page.getByLabel('Coupon code').getAttribute('aria-invalid')).toBe('true');
    await applyCode(page, 'only-once');
    await error.filter({ hasText: exhaustedMessage }).waitFor();
    expect(await error.textContent()).toBe(exhaustedMessage);
    await page.screenshot({ path: '/tmp/web-promotions-error.png', fullPage: true });

    // Typed in any case; 10% of $39.99 rounds down to $3.99.
    await applyCode(page, 'save10');
    await page.getByTestId('coupon-code').filter({ hasText: 'SAVE10' }).waitFor();
    expect(await error.textContent()).toBe('');
    expect(await page.getByLabel('Coupon code').getAttribute('aria-invalid')).toBeNull();
    expect(await page.locator('#coupon-description').textContent()).toBe('10% off everything');
    expect(await text(page, 'discount')).toBe('−$3.99');
    expect(await text(page, 'total')).toBe('$36.00');
    expect(await page.getByTestId('coupon-problem').isHidden()).toBe(true);
    expect(await page.getByLabel('Coupon code').isHidden()).toBe(true); // one coupon per cart
    await page.screenshot({ path: '/tmp/web-promotions-applied.png', fullPage: true });

    // Removed, the total is the subtotal again; applied again for the order.
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByLabel('Coupon code').waitFor();
    expect(await page.getByTestId('coupon-code').isHidden()).toBe(true);
    expect(await page.getByTestId('discount').isHidden()).toBe(true);
    expect(await text(page, 'total')).toBe('$39.99');
    await applyCode(page, 'SAVE10');
    await page.getByTestId('total').filter({ hasText: '$36.00' }).waitFor();

    const orderId = await placeAndWait(page, 'CONFIRMED');
    expect(await text(page, 'order-total')).toBe('$36.00');
    expect(await text(page, 'order-discount')).toBe('−$3.99');
    expect(await page.locator('#order-discount-label').textContent()).toBe('Coupon SAVE10');
    expect(await timeline(page)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    // The lines and the coupon went with the order.
    await page.getByTestId('subtotal').filter({ hasText: '—' }).waitFor();
    expect(await page.getByTestId('coupon-code').isHidden()).toBe(true);
    await page.getByLabel('Coupon code').waitFor();
    await page.screenshot({ path: '/tmp/web-promotions-ordered.png', fullPage: true });

    // What the page showed is what the order is.
    const { order } = await call(operation('Order'), { id: orderId }, token);
    expect(order).toMatchObject({ coupon: 'SAVE10', discount: { amount: 399, currency: 'USD' }, total: { amount: 3_600, currency: 'USD' } });
    expect(problems).toEqual([]);
  });

  it('keeps a coupon the cart does not qualify for yet, says why, and applies it once the cart does', async () => {
    const { page, problems } = await signedInPage();
    await addKettle(page, '$39.99');
    await applyCode(page, 'big-basket');
    await page.getByTestId('coupon-code').filter({ hasText: 'BIG-BASKET' }).waitFor();
    const hint = page.getByTestId('coupon-problem');
    await hint.waitFor();
    expect(await hint.textContent()).not.toBe('');
    expect(await page.locator('#coupon-error').textContent()).toBe('');
    expect(await page.getByTestId('discount').isHidden()).toBe(true);
    expect(await text(page, 'total')).toBe('$39.99');
    await page.screenshot({ path: '/tmp/web-promotions-problem.png', fullPage: true });

    await addKettle(page, '$79.98');
    expect(await hint.isHidden()).toBe(false);
    await addKettle(page, '$119.97');
    await hint.waitFor({ state: 'hidden' });
    expect(await text(page, 'discount')).toBe('−$5.00');
    expect(await text(page, 'total')).toBe('$114.97');
    expect(problems).toEqual([]);
  });
});

describe('web client: payment review', () => {
  beforeAll(async () => {
    // Every order over $10 is held from now on (this describe runs after the coupons').
    const { createFraudRule } = await call(operation('CreateFraudRule'), { input: { name: 'Over $10', kind: 'AMOUNT_OVER', amount: { amount: 1_000, currency: 'USD' } } }, staff);
    expect(createFraudRule.errors).toEqual([]);
  });

  it('shows an order held for review, then CONFIRMED live once staff approve it', async () => {
    const { page, problems } = await signedInPage();
    await addKettle(page, '$39.99');
    const orderId = await placeAndWait(page, 'UNDER_REVIEW');
    const note = page.getByTestId('order-status-note');
    expect(await note.textContent()).toMatch(/payment review/i);
    expect(await page.locator('#watch-mode').textContent()).toBe('Live updates on.');
    // The held order has taken the lines out of the cart.
    await page.getByTestId('subtotal').filter({ hasText: '—' }).waitFor();
    await page.screenshot({ path: '/tmp/web-promotions-review.png', fullPage: true });

    const { approveOrder } = await call(operation('ApproveOrder'), { input: { orderId } }, staff);
    expect(approveOrder.errors).toEqual([]);
    await page.getByTestId('order-status').filter({ hasText: /^CONFIRMED$/ }).waitFor({ timeout: 30_000 });
    expect(await note.isHidden()).toBe(true);
    expect(await timeline(page)).toEqual(['PENDING', 'STOCK_RESERVED', 'UNDER_REVIEW', 'CONFIRMED']);
    expect(await page.locator('#watch-mode').textContent()).toBe('Live updates on.');
    await page.screenshot({ path: '/tmp/web-promotions-approved.png', fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows REJECTED as final once staff reject it, with the lines back in the cart', async () => {
    const { page, problems } = await signedInPage();
    await addKettle(page, '$39.99');
    const orderId = await placeAndWait(page, 'UNDER_REVIEW');

    const { rejectOrder } = await call(operation('RejectOrder'), { input: { orderId, reason: 'Card reported stolen' } }, staff);
    expect(rejectOrder.errors).toEqual([]);
    await page.getByTestId('order-status').filter({ hasText: /^REJECTED$/ }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('order-status-note').textContent()).toMatch(/not charged/i);
    expect(await timeline(page)).toEqual(['PENDING', 'STOCK_RESERVED', 'UNDER_REVIEW', 'REJECTED']);
    await page.getByTestId('subtotal').filter({ hasText: '$39.99' }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: '/tmp/web-promotions-rejected.png', fullPage: true });
    expect(problems).toEqual([]);
  });
});
