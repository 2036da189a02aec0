import { bearer, connectWs, outageProxy, type Outage } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channel, startWorld, ticks, until, type World } from './harness.ts';

/**
 * A half-open upstream: the router's WebSocket to the ticker goes through a TCP proxy that stops
 * forwarding without closing anything (outageProxy's blackhole), as a silently dropping network
 * path or a peer gone without FIN or RST looks. Nothing tells the router; only its pings can.
 */

const PING_INTERVAL_MS = 200;
const PONG_TIMEOUT_MS = 300;
const CONNECT_TIMEOUT_MS = 1_000;
/** Timers on a busy machine fire late: the bound asserted is the configured one plus this. */
const SLACK_MS = 700;

const TICKS = 'subscription($channel: String!, $after: Int) { tick(channel: $channel, after: $after) { n } }';

let world: World;
let proxy: Outage;
let routerUrl: string;

beforeAll(async () => {
  world = await startWorld();
  proxy = await outageProxy(world.subgraphs.ticker.url);
  ({ url: routerUrl } = await world.router(
    { SUBGRAPH_WS_PING_INTERVAL_MS: String(PING_INTERVAL_MS), SUBGRAPH_WS_PONG_TIMEOUT_MS: String(PONG_TIMEOUT_MS), SUBGRAPH_WS_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS) },
    { subgraphUrls: { ticker: proxy.url } },
  ));
});

afterAll(async () => {
  await world?.close();
  await proxy?.close();
});

const tickOf = (message: { payload?: unknown }) => (message.payload as { data: { tick: { n: number } } }).data.tick.n;

describe('router: a half-open upstream WebSocket', () => {
  it('is detected within the ping interval and pong timeout, ends the subscription with SUBGRAPH_SUBSCRIPTION_FAILED, fails new ones within the connect timeout, and a resubscription with the cursor misses nothing once the path is back', async () => {
    const client = await connectWs(routerUrl, bearer(await world.issuer.customer()));
    const c = channel();
    client.subscribe('1', TICKS, { channel: c });
    await until(() => ticks.active(c) === 1, 'subscribed');
    ticks.publish(c, 'p1');
    expect(tickOf(await client.takeFor('1'))).toBe(1);

    // Idle but healthy: pings are answered, nothing is dropped.
    await new Promise((resolve) => setTimeout(resolve, 4 * (PING_INTERVAL_MS + PONG_TIMEOUT_MS)));
    ticks.publish(c, 'p2');
    expect(tickOf(await client.takeFor('1'))).toBe(2);

    proxy.blackhole();
    const cutAt = performance.now();
    ticks.publish(c, 'p1'); // n = 3, held on the dead path
    const ended = await client.takeFor('1', 5_000);
    const detectedInMs = performance.now() - cutAt;
    expect(ended.type).toBe('error');
    expect(ended.payload).toEqual([expect.objectContaining({
      message: `Subscription to subgraph "ticker" closed (1006: Subgraph did not answer a ping within ${PONG_TIMEOUT_MS} ms)`,
      extensions: { code: 'SUBGRAPH_SUBSCRIPTION_FAILED', serviceName: 'ticker' },
    })]);
    expect(detectedInMs).toBeLessThan(PING_INTERVAL_MS + PONG_TIMEOUT_MS + SLACK_MS);

    // Still cut off: a new subscription cannot connect, and says so within the connect timeout.
    const triedAt = performance.now();
    client.subscribe('2', TICKS, { channel: c, after: 2 });
    const refused = await client.takeFor('2', 5_000);
    expect(refused.type).toBe('error');
    expect(refused.payload).toEqual([expect.objectContaining({
      message: 'Subscription to subgraph "ticker" closed (4504: Connection acknowledgement timeout)',
      extensions: { code: 'SUBGRAPH_SUBSCRIPTION_FAILED', serviceName: 'ticker' },
    })]);
    expect(performance.now() - triedAt).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);

    // Back: resubscribing after the last tick seen gets the one published during the cut, then live ones.
    proxy.restore();
    client.subscribe('3', TICKS, { channel: c, after: 2 });
    expect(tickOf(await client.takeFor('3'))).toBe(3);
    // The dropped socket's close reached the subgraph with the path: only the new subscription is left.
    await until(() => ticks.active(c) === 1, 'only the resubscription left at the subgraph');
    ticks.publish(c, 'p2');
    expect(tickOf(await client.takeFor('3'))).toBe(4);
    expect(client.pending()).toEqual([]);
    await client.close();
  });
});
