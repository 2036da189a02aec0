// The customers of a chaos run: K checkouts through the router with bounded concurrency, each
// retried through faults the way a patient client would (the same idempotency key for placeOrder).
import { setTimeout as sleep } from 'node:timers/promises';
import { operation } from '../../e2e/operations.ts';
import type { GraphQLResult } from '../../bench/saga/http.ts';
import type { Random } from './random.ts';

export type Call = (query: string, variables: Record<string, unknown>, token?: string) => Promise<GraphQLResult>;

export const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

/** What one checkout will do, drawn from the seeded PRNG before the run. */
export interface CheckoutPlan {
  n: number;
  customer: string;
  lines: { productId: string; quantity: number }[];
  card: string;
  coupon: boolean;
  /** Cancel this long after placeOrder answered, or never. */
  cancelAfterMs: number | null;
}

export interface CheckoutResult {
  n: number;
  idempotencyKey: string;
  orderId?: string;
  /** placed: placeOrder answered with an order; refused: a user error (e.g. an empty cart); gave-up: no answer before the deadline. */
  outcome: 'placed' | 'refused' | 'gave-up';
  error?: string;
  /** Requests sent again after a transport error, a GraphQL error or a transient user error. */
  retries: number;
  cancelled?: 'cancelled' | 'not-cancellable' | 'gave-up';
}

const CARDS = [
  { card: 'pm_card_visa', weight: 0.85 },
  { card: 'pm_card_chargeDeclined', weight: 0.1 },
  { card: 'pm_card_chargeDeclinedInsufficientFunds', weight: 0.05 },
];

/**
 * The plan of `count` checkouts: customers new (70 %) or returning, 1–2 products of which the
 * first is scarce (it runs out, so some orders end OUT_OF_STOCK), mostly good cards, some coupons
 * and cancellations. A returning customer comes from well before (and driveCheckouts still runs
 * one customer's checkouts one after the other).
 */
export function planCheckouts(random: Random, options: { count: number; products: string[]; couponShare: number; cancelShare: number; concurrency: number }): CheckoutPlan[] {
  const customers: string[] = [];
  return Array.from({ length: options.count }, (_, n) => {
    // A customer's checkouts must not overlap (one cart): only customers from well before reappear.
    const settled = customers.length - options.concurrency * 2;
    const customer = settled > 0 && random.chance(0.3) ? customers[random.int(0, settled - 1)]! : uuidFrom(random);
    customers.push(customer);
    const count = random.chance(0.3) ? 2 : 1;
    const lines: CheckoutPlan['lines'] = [];
    while (lines.length < count) {
      const productId = random.chance(0.15) ? options.products[0]! : random.pick(options.products.slice(1));
      if (!lines.some((l) => l.productId === productId)) lines.push({ productId, quantity: random.int(1, 3) });
    }
    let roll = random.next();
    const card = CARDS.find((c) => (roll -= c.weight) < 0)?.card ?? 'pm_card_visa';
    return { n, customer, lines, card, coupon: random.chance(options.couponShare), cancelAfterMs: random.chance(options.cancelShare) ? random.int(0, 1500) : null };
  });
}

function uuidFrom(random: Random): string {
  const hex = Array.from({ length: 32 }, () => random.int(0, 15).toString(16));
  hex[12] = '4';
  hex[16] = (8 + random.int(0, 3)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** User errors that mean "not now" (a dependency of the subgraph is away): the request is sent again. */
const TRANSIENT_CODES = new Set(['CHECKOUT_UNAVAILABLE', 'PRODUCT_LOOKUP_UNAVAILABLE', 'UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'INTERNAL_SERVER_ERROR']);

type Attempt<T> = { done: T } | { retry: string };

export interface DriveOptions {
  call: Call;
  plans: CheckoutPlan[];
  concurrency: number;
  couponCode: string;
  /** A customer's access token (signed like the accounts service does). */
  token: (customer: string) => Promise<string>;
  /** The earliest start of checkout n, ms after the start (spreads the load over the fault schedule). */
  notBeforeMs: (n: number) => number;
  /** Per checkout: how long to keep retrying through faults. */
  deadlineMs: number;
  onPlaced?: (result: CheckoutResult) => void;
  log: (message: string) => void;
}

export async function driveCheckouts(options: DriveOptions): Promise<CheckoutResult[]> {
  const results: CheckoutResult[] = [];
  const start = Date.now();
  let next = 0;
  // One checkout at a time per customer (one cart): a returning customer waits for their previous one.
  const busy = new Map<string, Promise<unknown>>();
  const worker = async () => {
    while (next < options.plans.length) {
      const plan = options.plans[next++]!;
      const wait = start + options.notBeforeMs(plan.n) - Date.now();
      if (wait > 0) await sleep(wait);
      while (busy.has(plan.customer)) await busy.get(plan.customer);
      const running = checkout(plan, options);
      busy.set(plan.customer, running);
      const result = await running.finally(() => busy.delete(plan.customer));
      results.push(result);
      if ((plan.n + 1) % 100 === 0) options.log(`  ${plan.n + 1} checkouts done`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return results.sort((a, b) => a.n - b.n);
}

async function checkout(plan: CheckoutPlan, options: DriveOptions): Promise<CheckoutResult> {
  const idempotencyKey = `chaos-${plan.n}-${plan.customer.slice(0, 8)}`;
  const result: CheckoutResult = { n: plan.n, idempotencyKey, outcome: 'gave-up', retries: 0 };
  const deadline = Date.now() + options.deadlineMs;
  const token = await options.token(plan.customer);
  // Sends until it is done, the way a client retries through an outage: backing off, up to the deadline.
  const persist = async <T>(what: string, attempt: () => Promise<Attempt<T>>): Promise<T | undefined> => {
    for (let pause = 200; ; pause = Math.min(pause * 2, 2000)) {
      let why: string;
      try {
        const outcome = await attempt();
        if ('done' in outcome) return outcome.done;
        why = outcome.retry;
      } catch (error) {
        why = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() + pause > deadline) {
        result.error = `${what}: ${why}`;
        return undefined;
      }
      result.retries++;
      await sleep(pause);
    }
  };
  const send = async (field: string, query: string, variables: Record<string, unknown>): Promise<Attempt<{ payload: Record<string, any>; errors: string[] }>> => {
    const answer = await options.call(query, variables, token);
    const payload = answer.data?.[field] as Record<string, any> | null | undefined;
    if (answer.errors?.length && !payload) return { retry: answer.errors.map((e) => e.extensions?.code ?? e.message).join(',') };
    if (!payload) return { retry: `HTTP ${answer.status}: no ${field}` };
    const errors = ((payload['errors'] ?? []) as { code: string }[]).map((e) => e.code);
    if (errors.some((code) => TRANSIENT_CODES.has(code))) return { retry: errors.join(',') };
    return { done: { payload, errors } };
  };

  let added = 0;
  const refusals = new Set<string>();
  for (const line of plan.lines) {
    const answer = await persist('addToCart', () => send('addToCart', operation('AddToCart'), { input: line }));
    if (!answer) return result;
    if (answer.errors.length === 0) added++;
    for (const code of answer.errors) refusals.add(code);
  }
  if (added === 0) {
    result.outcome = 'refused';
    result.error = `addToCart refused every line: ${[...refusals].join(',')}`;
    return result;
  }
  if (plan.coupon) {
    const applied = await persist('applyCoupon', () => send('applyCoupon', operation('ApplyCoupon'), { input: { code: options.couponCode } }));
    if (!applied) return result;
  }
  const placed = await persist('placeOrder', async () => {
    const answer = await send('placeOrder', operation('PlaceOrder'), { input: { idempotencyKey, shippingAddress: ADDRESS, paymentMethod: plan.card } });
    if ('retry' in answer) return answer;
    const orderId = answer.done.payload['order']?.id as string | undefined;
    // An order with errors elsewhere in the answer (a federated field of a subgraph that is down) is still the order;
    // no order and no user error means the order was nulled by such an error: asked again, the same key answers it.
    if (!orderId && answer.done.errors.length === 0) return { retry: 'placeOrder answered without an order' };
    return { done: { orderId, errors: answer.done.errors } };
  });
  if (!placed) return result;
  if (!placed.orderId) {
    result.outcome = 'refused';
    result.error = `placeOrder: ${placed.errors.join(',') || 'no order'}`;
    return result;
  }
  result.outcome = 'placed';
  result.orderId = placed.orderId;
  options.onPlaced?.(result);
  if (plan.cancelAfterMs !== null) {
    await sleep(plan.cancelAfterMs);
    const cancelled = await persist('cancelOrder', () => send('cancelOrder', operation('CancelOrder'), { input: { orderId: placed.orderId } }));
    result.cancelled = !cancelled ? 'gave-up' : cancelled.errors.length ? 'not-cancellable' : 'cancelled';
  }
  return result;
}
