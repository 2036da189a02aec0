import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '@shopgraph/core/metrics';

/** Who sent an operation, as clients name themselves (`apollographql-client-name`/`-version`). */
export interface OperationLabels {
  type: string;
  name: string | null;
  clientName: string | null;
  clientVersion: string | null;
}

export type RouterMetrics = ReturnType<typeof routerMetrics>;

/** Why the router refused hostile traffic: the stable codes clients get (a bounded label). */
export const REFUSAL_REASONS = ['RATE_LIMITED', 'DOCUMENT_TOO_LARGE', 'TOO_MANY_SUBSCRIPTIONS', 'TOO_MANY_CONNECTIONS', 'TOO_MANY_OPERATIONS', 'TOO_MANY_NEW_DOCUMENTS'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export const isRefusalReason = (code: unknown): code is RefusalReason => (REFUSAL_REASONS as readonly unknown[]).includes(code);

/**
 * The router's metrics: operations by type, name and client (errors and latency), each subgraph
 * fetch, live subscriptions by transport. Operation and client names come from callers, so their
 * label sets are bounded: the first `maxLabelSets` combinations are kept, later ones count as
 * `other` (a client inventing names cannot grow the registry).
 */
export function routerMetrics(registry: Registry, maxLabelSets = 500) {
  const registers = [registry];
  const requests = new Counter({
    name: 'shopgraph_router_requests_total',
    help: 'Operations the router answered, by type, operation name, client name and version, and result (ok, error: any error in the response)',
    labelNames: ['operation_type', 'operation_name', 'client_name', 'client_version', 'result'],
    registers,
  });
  const seconds = new Histogram({ name: 'shopgraph_router_request_seconds', help: 'Time to answer an operation (to its first payload for incremental delivery and subscriptions)', labelNames: ['operation_type', 'operation_name', 'client_name'], buckets: LATENCY_BUCKETS, registers });
  const fetches = new Counter({ name: 'shopgraph_router_subgraph_requests_total', help: 'Fetches from the router to each subgraph, by result (ok, error: unreachable, an HTTP error or errors in the response)', labelNames: ['subgraph', 'result'], registers });
  const fetchSeconds = new Histogram({ name: 'shopgraph_router_subgraph_request_seconds', help: 'Time of one fetch from the router to a subgraph', labelNames: ['subgraph'], buckets: LATENCY_BUCKETS, registers });
  const subscriptions = new Gauge({ name: 'shopgraph_router_subscriptions', help: 'Live subscriptions by transport (ws, sse, multipart)', labelNames: ['transport'], registers });
  const refusals = new Counter({ name: 'shopgraph_router_refusals_total', help: `Operations and connections refused to protect the router, by reason (${REFUSAL_REASONS.join(', ')})`, labelNames: ['reason'], registers });
  const rateChecks = new Counter({ name: 'shopgraph_router_rate_limit_checks_total', help: 'Rate limit checks, by result (allowed, limited, unavailable: Redis away, served unchecked)', labelNames: ['result'], registers });
  for (const reason of REFUSAL_REASONS) refusals.inc({ reason }, 0);

  // The series of each label set, looked up once: the per-request cost is a map lookup, not label hashing.
  type Series = { ok: Counter.Internal; error: Counter.Internal; seconds: Histogram.Internal<string> };
  const series = new Map<string, Series>();
  const seriesOf = (labels: OperationLabels): Series => {
    const key = `${labels.type}\0${labels.name}\0${labels.clientName}\0${labels.clientVersion}`;
    let found = series.get(key);
    if (!found) {
      const bounded = series.size < maxLabelSets;
      const operation_name = bounded ? clip(labels.name ?? 'anonymous') : 'other';
      const client_name = bounded ? clip(labels.clientName ?? 'unknown') : 'other';
      const client_version = bounded ? clip(labels.clientVersion ?? 'unknown') : 'other';
      const base = { operation_type: labels.type, operation_name, client_name };
      found = { ok: requests.labels({ ...base, client_version, result: 'ok' }), error: requests.labels({ ...base, client_version, result: 'error' }), seconds: seconds.labels(base) };
      if (bounded) series.set(key, found);
    }
    return found;
  };

  return {
    operation(labels: OperationLabels, elapsedSeconds: number, ok: boolean): void {
      const { ok: okCount, error, seconds: latency } = seriesOf(labels);
      (ok ? okCount : error).inc();
      latency.observe(elapsedSeconds);
    },
    subgraphFetch(subgraph: string, elapsedSeconds: number, ok: boolean): void {
      fetches.inc({ subgraph, result: ok ? 'ok' : 'error' });
      fetchSeconds.observe({ subgraph }, elapsedSeconds);
    },
    refused(reason: RefusalReason): void {
      refusals.inc({ reason });
    },
    rateLimitCheck(result: 'allowed' | 'limited' | 'unavailable'): void {
      rateChecks.inc({ result });
    },
    /** A subscription started; call what it returns when it ends. */
    subscriptionStarted(transport: 'ws' | 'sse' | 'multipart'): () => void {
      subscriptions.inc({ transport });
      let ended = false;
      return () => {
        if (!ended) subscriptions.dec({ transport });
        ended = true;
      };
    },
  };
}

const clip = (value: string) => value.slice(0, 64);
