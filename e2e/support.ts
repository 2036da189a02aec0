import { connectWs, graphql, type WsMessage, type WsTestClient } from '@shopgraph/testkit';
import { importJWK, SignJWT, type JWK } from 'jose';
import { queryOnce as sql } from '@shopgraph/infra';
import { expect } from 'vitest';
import { operation } from './operations.ts';
import { ISSUER, STAFF, type RunningSupergraph } from './supergraph.ts';

/** One query against a subgraph's own database, to check what the API cannot show. */
export { sql };

/** Polls until `check` returns a value (not undefined, null or false), or fails after the deadline. */
export async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Signs access tokens with the accounts service's own key (read from its database), for tests
 * that need many customers without paying a password hash for each, or tokens with odd claims.
 */
export async function accountsSigner(graph: RunningSupergraph) {
  const [row] = await sql<{ private_jwk: JWK }>(graph.databaseUrls['accounts']!, 'select private_jwk from signing_key limit 1');
  const jwk = row!.private_jwk;
  const key = await importJWK(jwk, jwk.alg);
  return {
    jwk,
    sign: (claims: Record<string, unknown>, expiresInSeconds = 300) =>
      new SignJWT({ iss: ISSUER, aud: 'shopgraph', scope: 'customer', ...claims })
        .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid! })
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
        .sign(key),
    customer: () => new SignJWT({ iss: ISSUER, aud: 'shopgraph', scope: 'customer', sub: crypto.randomUUID() })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid! })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(key),
  };
}

/** Signs in the staff account the supergraph was started with. */
export async function staffToken(graph: RunningSupergraph): Promise<string> {
  const login = await graphql(graph.routerUrl, operation('Login'), { input: { email: STAFF.email, password: STAFF.password } });
  return login.data!['login'].accessToken;
}

/** Creates a product with stock through the API, as staff. */
export async function createProduct(graph: RunningSupergraph, staff: string, input: { sku: string; name: string; price: number; stock: number }): Promise<string> {
  const created = await graphql(graph.routerUrl, operation('CreateProduct'), { input: { sku: input.sku, name: input.name, price: { amount: input.price, currency: 'USD' } } }, staff);
  const id: string = created.data!['createProduct'].product.id;
  await graphql(graph.routerUrl, operation('SetStock'), { input: { productId: id, quantity: input.stock } }, staff);
  return id;
}

/** One event of `orderStatusChanged`, as the client selected it. */
export interface StatusEvent {
  version: number;
  status: string;
  reason: string | null;
  [field: string]: any;
}

/** A client following one order's status over the router's WebSocket. */
export interface OrderWatch {
  client: WsTestClient;
  /** Every event taken so far, in arrival order. */
  readonly events: StatusEvent[];
  /** The next event; fails on an error message or completion. */
  next(timeoutMs?: number): Promise<StatusEvent>;
  /** Takes events up to and including `version`; returns those taken. */
  through(version: number, timeoutMs?: number): Promise<StatusEvent[]>;
  /** The subscription's next message as it came (next, error or complete). */
  message(timeoutMs?: number): Promise<WsMessage>;
  close(): Promise<void>;
}

/**
 * Connects to `url` (the router) with `token` in connection_init and subscribes to the order's
 * status with a client operation (default `OrderStatusChanged`), from `after` if given.
 */
export async function watchOrder(url: string, token: string, orderId: string, options: { after?: number; operation?: string } = {}): Promise<OrderWatch> {
  const client = await connectWs(url, { authorization: `Bearer ${token}` });
  if (!client.ack) throw new Error(`connection refused: ${JSON.stringify(await client.closed)}`);
  const variables = options.after === undefined ? { orderId } : { orderId, after: options.after };
  client.subscribe('order', operation(options.operation ?? 'OrderStatusChanged'), variables);
  const events: StatusEvent[] = [];
  const message = (timeoutMs = 30_000) => client.takeFor('order', timeoutMs);
  const next = async (timeoutMs?: number) => {
    const m = await message(timeoutMs);
    if (m.type !== 'next' || m.payload?.errors || !m.payload?.data?.orderStatusChanged) throw new Error(`expected an event, got ${JSON.stringify(m)}`);
    const event = m.payload.data.orderStatusChanged as StatusEvent;
    events.push(event);
    return event;
  };
  return {
    client,
    events,
    message,
    next,
    async through(version, timeoutMs) {
      const taken: StatusEvent[] = [];
      while (taken.at(-1)?.version !== version) {
        const event = await next(timeoutMs);
        taken.push(event);
        if (event.version > version) throw new Error(`expected version ${version}, got past it: ${JSON.stringify(taken)}`);
      }
      return taken;
    },
    close: () => client.close(),
  };
}

/** [version, status] of each event, for compact assertions. */
export const statuses = (events: StatusEvent[]): [number, string][] => events.map((e) => [e.version, e.status]);

/** A shipping address every order of the e2e tests uses. */
export const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

/** A customer's order of one unit of `productId`, placed through the router (cart, then placeOrder); its id. */
export async function placeOrder(routerUrl: string, token: string, productId: string, paymentMethod = 'pm_card_visa'): Promise<string> {
  const added = await graphql(routerUrl, operation('AddToCart'), { input: { productId, quantity: 1 } }, token);
  expect(added.data?.['addToCart'].errors).toEqual([]);
  const placed = await graphql(routerUrl, operation('PlaceOrder'), { input: { idempotencyKey: crypto.randomUUID(), shippingAddress: ADDRESS, paymentMethod } }, token);
  expect(placed.data?.['placeOrder'].errors).toEqual([]);
  return placed.data!['placeOrder'].order.id;
}
