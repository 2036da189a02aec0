// What a subgraph answered, and where it lives, never reach the client: a failing fetch is
// reported with its status and the subgraph's name only (the rest goes to the logs).
import { freePort } from '@shopgraph/infra';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from './harness.ts';

const SECRET = 'internal-detail-7f3a at /srv/products/src/db.ts:42';
/** How the fake products subgraph answers, by the test's mode. */
const answers: Record<string, { status: number; type: string; body: string }> = {
  unauthenticated: { status: 401, type: 'application/json', body: JSON.stringify({ errors: [{ message: SECRET }] }) },
  forbidden: { status: 403, type: 'application/json', body: JSON.stringify({ errors: [{ message: SECRET, extensions: { stacktrace: [SECRET] } }] }) },
  crashed: { status: 500, type: 'text/html', body: `<pre>${SECRET}</pre>` },
  'bad gateway with broken JSON': { status: 502, type: 'application/json', body: `{"error": "${SECRET}` },
  'not JSON': { status: 200, type: 'text/plain', body: SECRET },
  'not an object': { status: 200, type: 'application/json', body: JSON.stringify([SECRET]) },
};

let world: World;
let fake: Server;
let fakeAddress: string;
let mode = '';

beforeAll(async () => {
  world = await startWorld();
  fake = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = answers[mode]!;
      res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  fakeAddress = `127.0.0.1:${(fake.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await world?.close();
  await new Promise((resolve) => fake?.close(resolve));
});

async function productsThrough(routerUrl: string): Promise<{ text: string; errors: { message: string; extensions?: Record<string, unknown> }[] }> {
  const response = await fetch(routerUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ products { id } }' }) });
  const text = await response.text();
  return { text, errors: (JSON.parse(text) as { errors?: [] }).errors ?? [] };
}

describe('a failing subgraph, as the client sees it', () => {
  it.each(Object.keys(answers))('%s: no address, no body, only the status and which subgraph', async (name) => {
    mode = name;
    const { url } = await world.router({ SUBGRAPH_PRODUCTS_URL: `http://${fakeAddress}/graphql` });
    const { text, errors } = await productsThrough(url);
    expect(errors.length, text).toBeGreaterThan(0);
    expect(text).not.toContain('internal-detail-7f3a');
    expect(text).not.toContain('/srv/products');
    expect(text).not.toContain(fakeAddress);
    expect(text).not.toMatch(/127\.0\.0\.1|localhost/);
    const { status } = answers[name]!;
    if (status === 401) expect(errors[0]).toMatchObject({ message: '401: Unauthorized', extensions: { code: 'UNAUTHENTICATED', serviceName: 'products', response: { status: 401, statusText: 'Unauthorized' } } });
    else if (status === 403) expect(errors[0]).toMatchObject({ message: '403: Forbidden', extensions: { code: 'FORBIDDEN', serviceName: 'products' } });
    else expect(errors[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('unreachable: which subgraph is unavailable, not its address or the socket’s error', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const { url } = await world.router({ SUBGRAPH_PRODUCTS_URL: `http://${closed}/graphql` });
    const { text, errors } = await productsThrough(url);
    expect(errors[0]).toMatchObject({ message: 'Subgraph "products" is unavailable', extensions: { code: 'SUBREQUEST_HTTP_ERROR', serviceName: 'products' } });
    expect(text).not.toContain(closed);
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });
});
