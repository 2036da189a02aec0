// Subscriptions as applications make them, over every transport the router serves, each with the
// client library people use: graphql-ws's `createClient`, Apollo Client (`HttpLink`: Apollo's
// multipart protocol) and graphql-sse's `createClient` (distinct connections). What arrives is
// collected the same way whatever the transport, so tests run one scenario over all of them.
import { ApolloClient, type ApolloLink, CombinedGraphQLErrors, CombinedProtocolErrors, gql, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import { createClient as createSseClient, NetworkError, type RequestParams } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { webSocketUrlOf } from './graphql-ws.ts';

/** An Authorization header with a bearer token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface WireError {
  message: string;
  extensions?: Record<string, unknown>;
}
export interface Result {
  data?: unknown;
  errors?: readonly WireError[];
}
/** How a stream ended, as the client library reported it; `how` names the wire form of a failure. */
export type End = { kind: 'complete' } | { kind: 'error'; errors: WireError[]; how: string };

/** One subscription as a client library delivers it: its results in order, how it ended, and the HTTP answer (HTTP transports). */
export class Live {
  readonly results: Result[] = [];
  end: End | undefined;
  endedAt: number | undefined;
  http: { status: number; contentType: string | null } | undefined;
  /** Unsubscribes, as an application does (and lets go of the client). */
  stop: () => void = () => {};
  #taken = 0;
  readonly #waiters = new Set<() => void>();

  readonly transport: Transport;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  push(result: Result): void {
    if (this.end) throw new Error(`${this.transport}: a result after the end: ${JSON.stringify(result)}`);
    this.results.push(result);
    this.#wake();
  }

  finish(end: End): void {
    if (this.end) return;
    this.end = end;
    this.endedAt = Date.now();
    this.#wake();
  }

  /** The next result not yet taken; fails if the stream ends first, or after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<Result> {
    await this.#until(() => this.results.length > this.#taken || this.end !== undefined, 'a result', timeoutMs);
    if (this.results.length > this.#taken) return this.results[this.#taken++]!;
    throw new Error(`${this.transport}: the stream ended (${JSON.stringify(this.end)}) instead of sending a result`);
  }

  async ended(timeoutMs = 5_000): Promise<End> {
    await this.#until(() => this.end !== undefined, 'the end of the stream', timeoutMs);
    return this.end!;
  }

  /** Results received and not taken yet. */
  untaken(): Result[] {
    return this.results.slice(this.#taken);
  }

  async #until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.transport}: no ${what} within ${timeoutMs} ms; results ${JSON.stringify(this.results)}, end ${JSON.stringify(this.end)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

export const TRANSPORTS = ['graphql-ws', 'multipart', 'sse'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** What the README says graphql-ws close codes mean. */
const CLOSE_CODES: Record<number, string> = { 4401: 'UNAUTHENTICATED', 4403: 'FORBIDDEN' };

const jsonOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
const errorsIn = (body: unknown): WireError[] => (typeof body === 'object' && body !== null && Array.isArray((body as Result).errors) ? [...(body as Result).errors!] : []);

/** A `fetch` that records what went over the wire: the request (body parsed) and the response's status, type and JSON body. */
export interface Exchange {
  method: string;
  url: URL;
  headers: Headers;
  body: any;
  status: number;
  contentType: string | null;
  response: unknown;
}
export function recordingFetch(log: Exchange[], onResponse?: (response: Response) => void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    onResponse?.(response);
    const contentType = response.headers.get('content-type');
    const exchange: Exchange = {
      method: init?.method ?? 'GET', url: new URL(String(input)), headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined, status: response.status, contentType, response: undefined,
    };
    // A stream is left to the client; a JSON answer is read from a copy.
    if (contentType?.includes('json')) exchange.response = await response.clone().json();
    log.push(exchange);
    return response;
  };
}

export const apolloClient = (link: ApolloLink) => new ApolloClient({ cache: new InMemoryCache(), link });
/** Apollo Client's HTTP link to `uri`, with the caller's token. */
export const httpLink = (uri: string, token: string | undefined, fetchFn: typeof fetch = fetch, options: Partial<HttpLink.Options> = {}) =>
  new HttpLink({ uri, fetch: fetchFn, headers: token ? bearer(token) : {}, ...options });

/** Subscribes at `at` (a GraphQL URL) over one transport with its client library, as an application does. */
export function subscribeOver(transport: Transport, at: string, query: string, variables: Record<string, unknown>, token: string | undefined, { extensions }: { extensions?: Record<string, unknown> } = {}): Live {
  const live = new Live(transport);
  if (transport === 'graphql-ws') {
    const client = createWsClient({ url: webSocketUrlOf(at), webSocketImpl: WebSocket, connectionParams: token ? bearer(token) : {}, retryAttempts: 0 });
    const dispose = client.subscribe({ query, variables, ...(extensions ? { extensions } : {}) }, {
      next: (result) => live.push(result as Result),
      error: (error: unknown) => {
        if (Array.isArray(error)) return live.finish({ kind: 'error', errors: error as WireError[], how: 'error message' });
        const close = error as { code?: number; reason?: string };
        if (typeof close.code === 'number') {
          return live.finish({ kind: 'error', errors: [{ message: close.reason ?? '', extensions: { code: CLOSE_CODES[close.code] ?? `CLOSE_${close.code}` } }], how: `close ${close.code}` });
        }
        live.finish({ kind: 'error', errors: [{ message: String(error) }], how: 'client error' });
      },
      complete: () => live.finish({ kind: 'complete' }),
    });
    live.stop = () => {
      dispose();
      void client.dispose();
    };
  } else if (transport === 'multipart') {
    const record = (response: Response) => void (live.http = { status: response.status, contentType: response.headers.get('content-type') });
    const client = apolloClient(httpLink(at, token, recordingFetch([], record)));
    const subscription = client.subscribe({ query: gql(query), variables, fetchPolicy: 'no-cache', errorPolicy: 'all', ...(extensions ? { extensions } : {}) }).subscribe({
      next: ({ data, error }) => {
        if (!error) return live.push({ data });
        // GraphQL errors of a result (in its payload, or a refusal answered as JSON); the stream goes on.
        if (CombinedGraphQLErrors.is(error)) return live.push({ data: error.data ?? null, errors: error.errors });
        // Fatal transport-level errors (a `{ payload: null, errors }` part): the stream ends.
        if (CombinedProtocolErrors.is(error)) return live.finish({ kind: 'error', errors: [...error.errors], how: 'protocol errors' });
        if (ServerError.is(error)) return live.finish({ kind: 'error', errors: errorsIn(jsonOr(error.bodyText)), how: `HTTP ${error.statusCode}` });
        live.finish({ kind: 'error', errors: [{ message: String(error) }], how: 'client error' });
      },
      error: (error: unknown) => live.finish({ kind: 'error', errors: [{ message: String(error) }], how: 'client error' }),
      complete: () => live.finish({ kind: 'complete' }),
    });
    live.stop = () => {
      subscription.unsubscribe();
      client.stop();
    };
  } else {
    const client = createSseClient({
      url: at,
      headers: token ? bearer(token) : {},
      retryAttempts: 0,
      fetchFn: async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await fetch(input, init);
        live.http = { status: response.status, contentType: response.headers.get('content-type') };
        return response;
      },
    });
    const dispose = client.subscribe({ query, variables, ...(extensions ? { extensions } : {}) } as RequestParams, {
      next: (result) => live.push(result as Result),
      error: (error: unknown) => {
        if (error instanceof NetworkError && error.response) {
          const response = error.response as Response;
          void response.text().then((text) => live.finish({ kind: 'error', errors: errorsIn(jsonOr(text)), how: `HTTP ${response.status}` }));
          return;
        }
        live.finish({ kind: 'error', errors: [{ message: String(error) }], how: 'client error' });
      },
      complete: () => live.finish({ kind: 'complete' }),
    });
    live.stop = () => {
      dispose();
      client.dispose();
    };
  }
  return live;
}
