import { repoDirs, startPrometheus, type PrometheusHandle } from '@shopgraph/infra';
import { graphql } from '@shopgraph/testkit';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { accountsSigner, createProduct, placeOrder, staffToken, until } from './support.ts';
import { ALERTS, metricsIn, queries } from '../scripts/observability.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

// A real Prometheus (Debian's) scrapes the router and every subgraph while orders go through, with
// the alert rules of observability/ loaded: what the dashboards and alerts query is really there.

let graph: RunningSupergraph;
let prometheus: PrometheusHandle;
const dataDir = join(repoDirs().data, 'test', `prometheus-${randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  graph = await startSupergraph();
  const targets = [{ job: 'router', url: graph.routerUrl }, ...Object.entries(graph.subgraphUrls).map(([job, url]) => ({ job, url }))];
  prometheus = await startPrometheus({ dataDir, targets, ruleFiles: [ALERTS], scrapeIntervalS: 1 });
});

afterAll(async () => {
  await prometheus?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await graph?.close();
});

const single = async (expr: string): Promise<number> => Number((await prometheus.query(expr))[0]?.value[1] ?? NaN);

describe('metrics in Prometheus', () => {
  it('scrapes every service; the saga, outbox, consumer and router metrics count the orders placed', async () => {
    await until('every target up', async () => (await prometheus.query('up == 1')).length === Object.keys(graph.subgraphUrls).length + 1);
    const staff = await staffToken(graph);
    const product = await createProduct(graph, staff, { sku: 'E2E-METRICS', name: 'Metered kettle', price: 2_500, stock: 10 });
    const signer = await accountsSigner(graph);
    const token = await signer.customer();
    const placed = [await placeOrder(graph.routerUrl, token, product), await placeOrder(graph.routerUrl, token, product)];
    for (const id of placed) {
      await until(`order ${id} confirmed`, async () => (await graphql(graph.routerUrl, operation('Order'), { id }, token)).data?.['order']?.status === 'CONFIRMED');
    }

    // Prometheus sees each service as of its last scrape (every second): each figure is waited for.
    const reaches = (what: string, expr: string, check: (value: number) => boolean) => until(what, async () => check(await single(expr)), 20_000);
    await reaches('two confirmed sagas', 'sum(shopgraph_saga_completed_total{outcome="confirmed"})', (n) => n === 2);
    await reaches('their durations', 'sum(shopgraph_saga_duration_seconds_count{outcome="confirmed"})', (n) => n === 2);
    // Payments consumed both reservations; the relays published and the backlog drained.
    await reaches('payments consuming', 'sum(shopgraph_consumer_messages_total{service="payments", result="processed"})', (n) => n >= 2);
    await reaches('orders publishing', 'sum(shopgraph_outbox_published_total{service="orders"})', (n) => n >= 4);
    await reaches('outboxes drained', 'sum(shopgraph_outbox_backlog_messages)', (n) => n === 0);
    // The router saw the mutations, by operation name, and fetched from orders for them.
    await reaches('two PlaceOrder operations at the router', 'sum(shopgraph_router_requests_total{operation_name="PlaceOrder", result="ok"})', (n) => n === 2);
    await reaches('fetches to orders', 'sum(shopgraph_router_subgraph_requests_total{subgraph="orders"})', (n) => n >= 2);
  });

  it('has every metric the dashboards and alert rules name, and evaluates every rule', async () => {
    const response = await fetch(`${prometheus.url}/api/v1/label/__name__/values`);
    const known = new Set(((await response.json()) as { data: string[] }).data);
    // Series that exist only once something happened (a live subscription, a retry, a failure) are not required here.
    const onlyAfterEvents = new Set(['shopgraph_router_subscriptions', 'shopgraph_consumer_retries_total', 'shopgraph_live_update_delay_seconds_bucket']);
    const named = new Set(queries().flatMap(({ expr }) => metricsIn(expr)));
    expect([...named].filter((name) => !known.has(name) && !onlyAfterEvents.has(name))).toEqual([]);

    const rules = await until('rules evaluated', async () => {
      const groups = ((await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } }).data.groups;
      const all = groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') && all;
    });
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
  });
});
