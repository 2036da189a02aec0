import { Pool, type Dispatcher } from 'undici';

export interface HttpResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpClient {
  /**
   * POSTs a body; resolves with whatever status is answered. `timeoutMs`: this request's own bound
   * on the whole exchange, kept to the millisecond; else the client's (to about a second).
   */
  post(url: URL, headers: Record<string, string>, body: string, timeoutMs?: number): Promise<HttpResponse>;
  /** Closes the connections to origins not in `inUse` once their requests are done (e.g. subgraphs no supergraph routes to any more). */
  release(inUse: ReadonlySet<string>): void;
  /** Closes idle connections (on shutdown). */
  close(): void;
}

/**
 * POSTs over kept-alive connections, an undici pool per origin, through its `dispatch` API: the
 * router's fetches and the services' calls to each other are many small requests, and `fetch`
 * spends several times the client CPU on each (bench/router/micro/http-client.ts). Not
 * `Pool.request`: its response stream keeps each request's objects alive past young-generation
 * collections (~5 KB per request promoted, BENCHMARKS.md), which set the router's tail latency. A
 * request whose answer does not start, or stalls, for the client's timeout fails (undici's coarse
 * timers: cheap, late by up to a second), and one given its own timeout fails when that has passed;
 * nothing is retried (mutations go through here too). Idle connections do not keep the process alive.
 */
export function httpClient(timeoutMs: number): HttpClient {
  const pools = new Map<string, Pool>();
  return {
    post(url, headers, body, ownTimeoutMs) {
      let pool = pools.get(url.origin);
      if (!pool) pools.set(url.origin, (pool = new Pool(url.origin)));
      const timeout = ownTimeoutMs ?? timeoutMs;
      const options = { path: url.pathname + url.search, method: 'POST' as const, headers, body, headersTimeout: timeout, bodyTimeout: timeout };
      return new Promise<HttpResponse>((resolve, reject) => pool.dispatch(options, collect(resolve, reject, ownTimeoutMs)));
    },
    release(inUse) {
      for (const [origin, pool] of pools) {
        if (inUse.has(origin)) continue;
        pools.delete(origin);
        pool.close().catch(() => {});
      }
    },
    close() {
      for (const pool of pools.values()) pool.close().catch(() => {});
    },
  };
}

/** A dispatch handler that gathers one whole response, or fails once `deadlineMs` has passed (aborting the request). */
function collect(resolve: (response: HttpResponse) => void, reject: (error: Error) => void, deadlineMs?: number): Dispatcher.DispatchHandler {
  let status = 0;
  let headers: HttpResponse['headers'] = {};
  const chunks: Buffer[] = [];
  let abort: ((reason: Error) => void) | undefined;
  let expired: Error | undefined;
  const timer =
    deadlineMs === undefined
      ? undefined
      : setTimeout(() => {
          expired = Object.assign(new Error(`No complete answer within ${deadlineMs} ms`), { code: 'ETIMEDOUT' });
          reject(expired);
          abort?.(expired);
        }, deadlineMs).unref();
  return {
    onRequestStart(controller) {
      abort = (reason) => controller.abort(reason);
      if (expired) abort(expired);
    },
    onResponseStart(_controller, statusCode, responseHeaders) {
      status = statusCode;
      headers = responseHeaders;
    },
    onResponseData(_controller, chunk) {
      chunks.push(chunk);
    },
    onResponseEnd() {
      clearTimeout(timer);
      resolve({ status, headers, body: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
    },
    onResponseError(_controller, error) {
      clearTimeout(timer);
      reject(error);
    },
  };
}
