import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '@shopgraph/core/metrics';

/** Who sent an operation, as clients name themselves (`apollographql-client-name`/`-version`). */
export interface OperationLabels {
  type: string;
  name: string | null;
  clientName: string | null;
  clientVersion: string | null;
}

export type RouterMetrics = ReturnType<typeof routerMetrics>;

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

  const seen = new Set<string>();
  const bounded = (labels: OperationLabels) => {
    const name = clip(labels.name ?? 'anonymous');
    const clientName = clip(labels.clientName ?? 'unknown');
    const clientVersion = clip(labels.clientVersion ?? 'unknown');
    const key = `${name}\0${clientName}\0${clientVersion}`;
    if (!seen.has(key)) {
      if (seen.size >= maxLabelSets) return { operation_name: 'other', client_name: 'other', client_version: 'other' };
      seen.add(key);
    }
    return { operation_name: name, client_name: clientName, client_version: clientVersion };
  };

  return {
    operation(labels: OperationLabels, elapsedSeconds: number, ok: boolean): void {
      const { operation_name, client_name, client_version } = bounded(labels);
      requests.inc({ operation_type: labels.type, operation_name, client_name, client_version, result: ok ? 'ok' : 'error' });
      seconds.observe({ operation_type: labels.type, operation_name, client_name }, elapsedSeconds);
    },
    subgraphFetch(subgraph: string, elapsedSeconds: number, ok: boolean): void {
      fetches.inc({ subgraph, result: ok ? 'ok' : 'error' });
      fetchSeconds.observe({ subgraph }, elapsedSeconds);
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
