import { HeaderMap, type ApolloServer, type BaseContext, type ContextThunk } from '@apollo/server';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.ts';

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
export type ReadinessCheck = () => Promise<void>;

export interface HttpOptions<C extends BaseContext> {
  apollo: ApolloServer<C>;
  context: (req: IncomingMessage) => Promise<C>;
  logger: Logger;
  maxBodyBytes: number;
  /** Extra GET routes by exact path (e.g. a JWKS document). */
  routes?: Record<string, Route>;
  /** Each must resolve for /readyz to answer 200. */
  readiness?: Record<string, ReadinessCheck>;
  graphqlPath?: string;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * A plain node:http server in front of an Apollo Server: /graphql, /healthz (alive), /readyz
 * (dependencies answer). Bodies are size-capped and malformed JSON is a 400, both before GraphQL runs.
 */
export function createHttpServer<C extends BaseContext>(options: HttpOptions<C>): Server {
  const { logger, routes = {}, readiness = {}, graphqlPath = '/graphql' } = options;
  const getRoutes: Record<string, Route> = {
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': readinessRoute(readiness),
    ...routes,
  };

  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === graphqlPath) return await handleGraphQL(req, res, url, options);
      const route = req.method === 'GET' || req.method === 'HEAD' ? getRoutes[url.pathname] : undefined;
      if (route) return await route(req, res);
      sendJson(res, 404, { error: 'not found' });
    } catch (error) {
      if (error instanceof HttpError) return sendJson(res, error.status, { errors: [{ message: error.message, extensions: { code: 'BAD_REQUEST' } }] });
      logger.error({ err: error }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.destroy();
    }
  });
}

async function handleGraphQL<C extends BaseContext>(req: IncomingMessage, res: ServerResponse, url: URL, options: HttpOptions<C>): Promise<void> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const body = req.method === 'POST' ? parseBody(await readBody(req, options.maxBodyBytes), headers.get('content-type')) : undefined;
  const context: ContextThunk<C> = () => options.context(req);
  const response = await options.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
    context,
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) {
    req.resume();
    return Promise.reject(new HttpError(413, `Request body exceeds ${maxBytes} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, `Request body exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (!contentType?.startsWith('application/json') && !contentType?.startsWith('application/graphql-response+json')) return raw;
  if (raw === '') throw new HttpError(400, 'Empty JSON body');
  try {
    return JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'Malformed JSON body');
  }
}

/** A GET route answering 200 when every check resolves, else 503 naming the failing ones. */
export function readinessRoute(checks: Record<string, ReadinessCheck>): Route {
  return async (_req, res) => {
    const failures = await failingChecks(checks);
    sendJson(res, failures.length ? 503 : 200, failures.length ? { status: 'unavailable', failing: failures } : { status: 'ready' });
  };
}

async function failingChecks(checks: Record<string, ReadinessCheck>): Promise<string[]> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((name) => checks[name]!()));
  return names.filter((_, i) => results[i]!.status === 'rejected');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Listens and resolves with the base URL (port 0 picks a free port). */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve(`http://${host}:${address.port}`);
    });
  });
}

/** Stops accepting connections, lets in-flight requests finish for up to graceMs, then cuts the rest. */
export function closeHttpServer(server: Server, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
