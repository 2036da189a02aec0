import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Route } from './http.ts';

export { Counter, Gauge, Histogram, Registry };

/**
 * One service's Prometheus metrics, served on its `/metrics`: the process's own (CPU, memory,
 * event loop lag, GC) plus what the service registers. A registry per service, not prom-client's
 * global one, so services sharing a process (tests) keep their figures apart. Every series carries
 * `service`; labels are bounded sets (operation types, outcomes, topics), never ids.
 */
export function createMetrics(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'shopgraph_' });
  return registry;
}

/** Buckets for request and handling latencies, in seconds: 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The registry in Prometheus's text format. */
export function metricsRoute(registry: Registry): Route {
  return async (_req, res) => {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
  };
}
