import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [key: string]: unknown } }[];
}

/** POSTs one operation the way a web client does. */
export async function graphql<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** The codes of a response's errors, for assertions. */
export const errorCodes = (response: GraphQLResponse): (string | undefined)[] => (response.errors ?? []).map((e) => e.extensions?.code);

/** How a stand-in endpoint answers one request: an HTTP status (200), a JSON body ({}), after a delay (0). */
export interface StubAnswer {
  status?: number;
  body?: unknown;
  delayMs?: number;
}

export interface StubServer {
  /** Its GraphQL URL. */
  url: string;
  close(): Promise<void>;
}

/** A stand-in GraphQL endpoint (e.g. the router, for a client's tests) answering every request with `answer(parsed JSON body, req)`. */
export async function stubGraphQLServer(answer: (body: any, req: IncomingMessage) => StubAnswer): Promise<StubServer> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const { status = 200, body, delayMs = 0 } = answer(JSON.parse(raw), req);
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body ?? {}));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
