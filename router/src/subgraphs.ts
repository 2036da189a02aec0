import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { ReadinessCheck } from '@shopgraph/kit';

export type Fetcher = RemoteGraphQLDataSource['fetcher'];

/** What the router keeps per request for its subgraph fetches. */
export interface ForwardingContext {
  /** The client's `Authorization` header, present only once the router has verified its token. */
  authorization?: string | undefined;
}

/**
 * Subgraph fetches over Node's global fetch (undici): connections are pooled and kept alive
 * per origin, and a fetch that overruns `timeoutMs` is aborted.
 */
export function subgraphFetcher(timeoutMs: number): Fetcher {
  return ((url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })) as unknown as Fetcher;
}

/**
 * A subgraph data source that forwards the verified `Authorization` header unchanged (each subgraph
 * re-verifies it against the issuer's keys) and nothing else of the client's request.
 */
export function subgraphDataSource<C extends ForwardingContext>(url: string, fetcher: Fetcher): RemoteGraphQLDataSource<C> {
  return new RemoteGraphQLDataSource<C>({
    url,
    fetcher,
    willSendRequest({ request, context }) {
      if (context.authorization) request.http?.headers.set('authorization', context.authorization);
    },
  });
}

/**
 * A readiness check that asks a subgraph's `/readyz`, with a short timeout. Its answer is
 * reused for `cacheMs` (concurrent probes share one request), so the router's own /readyz
 * being polled does not multiply into calls on every subgraph.
 */
export function subgraphReadiness(graphqlUrl: string, timeoutMs: number, cacheMs: number): ReadinessCheck {
  const url = new URL('/readyz', graphqlUrl);
  let last: { at: number; result: Promise<void> } | undefined;
  const probe = async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`${url.href} answered ${response.status}`);
  };
  return () => {
    const now = performance.now();
    if (!last || now - last.at >= cacheMs) {
      const result = probe();
      result.catch(() => {}); // observed by callers; a cached failure is not an unhandled rejection
      last = { at: now, result };
    }
    return last.result;
  };
}
