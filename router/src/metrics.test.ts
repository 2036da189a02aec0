import { createMetrics } from '@shopgraph/core/metrics';
import { describe, expect, it } from 'vitest';
import { routerMetrics } from './metrics.ts';

const series = async (registry: ReturnType<typeof createMetrics>, name: string) => (await registry.getSingleMetric(name)!.get()).values;

describe('routerMetrics', () => {
  it('counts operations by client and result, and bounds the label sets callers can invent', async () => {
    const registry = createMetrics('router');
    const metrics = routerMetrics(registry, 2);
    metrics.operation({ type: 'query', name: 'Products', clientName: 'web', clientVersion: '1.4' }, 0.01, true);
    metrics.operation({ type: 'query', name: 'Products', clientName: 'web', clientVersion: '1.4' }, 0.02, false);
    metrics.operation({ type: 'mutation', name: null, clientName: null, clientVersion: null }, 0.01, true);
    for (let i = 0; i < 100; i++) metrics.operation({ type: 'query', name: `Invented${i}`, clientName: 'x'.repeat(500), clientVersion: String(i) }, 0.01, true);
    const counts = await series(registry, 'shopgraph_router_requests_total');
    expect(counts.map((s) => [s.labels, s.value])).toEqual([
      [{ operation_type: 'query', operation_name: 'Products', client_name: 'web', client_version: '1.4', result: 'ok' }, 1],
      [{ operation_type: 'query', operation_name: 'Products', client_name: 'web', client_version: '1.4', result: 'error' }, 1],
      [{ operation_type: 'mutation', operation_name: 'anonymous', client_name: 'unknown', client_version: 'unknown', result: 'ok' }, 1],
      [{ operation_type: 'query', operation_name: 'other', client_name: 'other', client_version: 'other', result: 'ok' }, 100],
    ]);
  });

  it('counts a subscription once however often its end is reported', async () => {
    const registry = createMetrics('router');
    const metrics = routerMetrics(registry);
    const end = metrics.subscriptionStarted('ws');
    metrics.subscriptionStarted('sse');
    end();
    end();
    expect((await series(registry, 'shopgraph_router_subscriptions')).map((s) => [s.labels.transport, s.value])).toEqual([['ws', 0], ['sse', 1]]);
  });
});
