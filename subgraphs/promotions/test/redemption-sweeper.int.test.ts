import { consumerOutcomes, eventProducer, graphql, newEvent, observe, type EventObserver, type EventProducer, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotions } from './support.ts';

// A file of its own: the sweeper runs here with a TTL short enough to watch it work.
const TTL_MS = 4_000;

let service: ServiceUnderTest;
let producer: EventProducer;
let observer: EventObserver;
const handled = consumerOutcomes();

beforeAll(async () => {
  service = await startPromotions({ onMessage: handled.record }, { env: { PROMOTIONS_UNPLACED_TTL_MS: String(TTL_MS), PROMOTIONS_SWEEP_INTERVAL_MS: '200' } });
  producer = eventProducer();
  observer = await observe('promotions.redemption.v1');
});

afterAll(async () => {
  await observer?.close();
  await producer?.close();
  await service?.close();
});

const usd = (amount: number) => ({ amount, currency: 'USD' });

async function call(query: string, variables: Record<string, unknown>, token: string) {
  const response = await graphql(service.url, query, variables, token);
  expect(response.errors).toBeUndefined();
  const payload = Object.values(response.data!)[0] as { errors: unknown[]; [field: string]: any };
  expect(payload.errors).toEqual([]);
  return payload;
}

/** A customer's reservation of the coupon for a new order. */
async function reservation(code: string) {
  const userId = crypto.randomUUID();
  const token = await service.issuer.customer(userId);
  await call('mutation($input: ApplyCouponInput!) { applyCoupon(input: $input) { errors { code } } }', { input: { code } }, token);
  const orderId = crypto.randomUUID();
  const lines = [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: usd(1_000) }];
  const { redemption } = await call('mutation($input: ReserveCouponInput!) { reserveCoupon(input: $input) { redemption { code discount { amount currency } } errors { code } } }', { input: { orderId, lines } }, token);
  return { userId, orderId, lines, redemption: redemption as { code: string; discount: { amount: number; currency: string } } };
}

const statusOf = async (orderId: string) => (await service.sql<{ status: string; reason: string | null }>('select status, reason from redemption where id = ?', [orderId]))[0];

describe('the redemption sweeper', () => {
  it('releases reservations whose order was never placed, and only those', async () => {
    const staff = await service.issuer.staff();
    const { coupon } = await call('mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { id code } errors { code } } }', { input: { code: 'SWEEP10', kind: 'PERCENTAGE', percentOff: 10, usageLimit: 2 } }, staff);

    // Placed in time: its order exists, the use stays.
    const kept = await reservation(coupon.code);
    const placed = await producer.publish('orders.order.placed', kept.orderId, {
      orderId: kept.orderId, userId: kept.userId, lines: kept.lines, total: usd(900), paymentMethod: 'pm_card_visa',
      shippingAddress: { name: 'A Customer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' }, coupon: kept.redemption,
    });
    await handled.handled(placed);
    const lost = await reservation(coupon.code);
    expect(await statusOf(kept.orderId)).toEqual({ status: 'PLACED', reason: null });
    expect(await statusOf(lost.orderId)).toEqual({ status: 'RESERVED', reason: null });

    const [released] = await observer.waitFor((r) => r.key === lost.orderId, 1, TTL_MS + 15_000);
    expect(released!.envelope).toMatchObject({ type: 'promotions.redemption.released', data: { orderId: lost.orderId, userId: lost.userId, couponId: coupon.id, code: 'SWEEP10', reason: 'NOT_PLACED' } });
    expect(await statusOf(lost.orderId)).toEqual({ status: 'RELEASED', reason: 'NOT_PLACED' });
    // Both were older than the TTL when the sweeper released one.
    expect(await statusOf(kept.orderId)).toEqual({ status: 'PLACED', reason: null });
    expect(await service.sql('select reserved_count as reserved from coupon where code = ?', ['SWEEP10'])).toEqual([{ reserved: 1 }]);

    // The released use is free for another customer.
    expect((await reservation(coupon.code)).redemption).toEqual({ code: 'SWEEP10', discount: usd(100) });

    // The released order's placement comes after all, later than the sweeper waited: it was priced
    // with the coupon, so its use is taken back, past the limit of 2 (three orders have the discount).
    const late = newEvent('orders.order.placed', lost.orderId, { ...placed.data, orderId: lost.orderId, userId: lost.userId });
    await producer.send(late);
    await handled.handled(late);
    expect(await statusOf(lost.orderId)).toEqual({ status: 'PLACED', reason: null });
    expect(await service.sql('select reserved_count as reserved from coupon where code = ?', ['SWEEP10'])).toEqual([{ reserved: 3 }]);
  });
});
