import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.ts';

/** A server of the product's (a subgraph, the router): listen, then close gracefully. */
export interface Service {
  readonly server: Server;
  /** Resolves with the base URL; port 0 picks a free port. */
  listen(port: number, host?: string): Promise<string>;
  /** Stops taking requests (WebSocket connections are closed with 1001 first), lets in-flight ones finish. */
  close(): Promise<void>;
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
export type ReadinessCheck = () => Promise<void>;

/** Answers a GraphQL request (the request's body not read yet); throw an HttpError for a plain error response. */
export type GraphQLHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export interface HttpOptions {
  /** Serves `graphqlPath`: a subgraph's Apollo Server (`apolloHandler`), the router's own pipeline. */
  graphql: GraphQLHandler;
  logger: Logger;
  /** Extra GET routes by exact path (e.g. a JWKS document). */
  routes?: Record<string, Route>;
  /** Each must resolve for /readyz to answer 200. */
  readiness?: Record<string, ReadinessCheck>;
  graphqlPath?: string;
}

/** An error answered as a plain JSON error response with its status (BAD_REQUEST), before any GraphQL runs. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * A plain node:http server: GraphQL on /graphql, /healthz (alive), /readyz (dependencies answer)
 * and any extra GET routes.
 */
export function createHttpServer(options: HttpOptions): Server {
  const { logger, routes = {}, readiness = {}, graphqlPath = '/graphql' } = options;
  const getRoutes: Record<string, Route> = {
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': readinessRoute(readiness),
    ...routes,
  };

  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === graphqlPath) return await options.graphql(req, res, url);
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

/** The request body as text; over `maxBytes`, an HttpError 413 (the rest is drained, not buffered). */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
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

/**
 * Stops accepting connections, lets in-flight requests finish for up to graceMs, then cuts the
 * rest. Connections are closed as soon as they go idle (a keep-alive one that was streaming when
 * the close began would otherwise wait for its keep-alive timeout).
 */
export function closeHttpServer(server: Server, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    const idle = setInterval(() => server.closeIdleConnections(), 50).unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(idle);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * The client's IP: the socket's peer or, with `trustedProxies` proxies in front (TRUST_PROXY_HOPS),
 * the `X-Forwarded-For` entry that many from the right (what the nearest trusted proxy saw). The
 * entries left of it are the client's to write, so never read; fewer entries than proxies means
 * the request did not come through them all, and the leftmost is as far as can be trusted.
 */
export function clientAddress(request: IncomingMessage | null, trustedProxies: number): string {
  const peer = request?.socket.remoteAddress ?? 'unknown';
  if (!trustedProxies || !request) return peer;
  const header = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((hop) => hop.trim()).filter(Boolean);
  return hops[Math.max(0, hops.length - trustedProxies)] ?? peer;
}
