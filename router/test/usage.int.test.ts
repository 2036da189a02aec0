import { bearer, connectWs } from '@shopgraph/testkit';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterApp } from '../src/app.ts';
import type { UsageReport } from '../src/registry-client.ts';
import { startWorld, type World } from './harness.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const PRODUCTS = 'query Products { products { id name ...Stock } } fragment Stock on Product { stock __typename }';

let world: World;
let url: string;
let app: RouterApp;
const reports: UsageReport[] = [];

beforeAll(async () => {
  world = await startWorld();
  ({ url, app } = await world.router({}, { reportUsage: async (report) => void reports.push(report) }));
});

afterAll(async () => {
  await world?.close();
});

const post = (query: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) }).then((r) => r.json());

describe('router: usage reporting', () => {
  it('counts operations per client, version and document, with the fields they select, in one report per flush', async () => {
    const web = { 'apollographql-client-name': 'web', 'apollographql-client-version': '1.4' };
    await Promise.all([post(PRODUCTS, web), post(PRODUCTS, web), post(PRODUCTS, { 'apollographql-client-name': 'mobile', 'apollographql-client-version': '2.3' })]);
    await post('{ ping }');
    // Refused before it runs (whoami needs a signed-in caller): not counted.
    await post('{ product(id: "p1") { name } whoami }');
    const client = await connectWs(url, bearer(await world.issuer.customer()));
    client.subscribe('1', '{ ping }');
    await client.takeFor('1');
    await client.close();
    reports.length = 0;
    await app.flushUsage();

    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(Date.parse(report!.windowStart)).toBeLessThanOrEqual(Date.parse(report!.windowEnd));
    const byKey = Object.fromEntries(report!.operations.map((o) => [`${o.clientName}/${o.clientVersion}/${o.operationName ?? '-'}`, o]));
    expect(byKey['web/1.4/Products']).toEqual({
      clientName: 'web', clientVersion: '1.4', operationName: 'Products', documentId: sha256(PRODUCTS), count: 2, errors: 0,
      fields: ['Product.id', 'Product.name', 'Product.stock', 'Query.products'],
    });
    expect(byKey['mobile/2.3/Products']).toMatchObject({ count: 1, errors: 0, documentId: sha256(PRODUCTS) });
    expect(byKey['unknown/unknown/-']).toMatchObject({ count: 2, errors: 0, documentId: sha256('{ ping }'), fields: ['Query.ping'] });
    expect(Object.keys(byKey).sort()).toEqual(['mobile/2.3/Products', 'unknown/unknown/-', 'web/1.4/Products']);

    // The next window starts empty.
    reports.length = 0;
    await app.flushUsage();
    expect(reports).toEqual([]);
  });

  it('counts an operation whose execution failed as an error', async () => {
    // A router whose accounts subgraph answers nothing: `ping` fails, the request is still counted.
    const { app: other, url: otherUrl } = await world.router({}, { reportUsage: async (report) => void reports.push(report), subgraphUrls: { accounts: 'http://127.0.0.1:9/graphql' } });
    const body = await fetch(otherUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ ping }' }) }).then((r) => r.json()) as { errors?: unknown[] };
    expect(body.errors).toHaveLength(1);
    reports.length = 0;
    await other.flushUsage();
    expect(reports[0]!.operations).toEqual([expect.objectContaining({ documentId: sha256('{ ping }'), count: 1, errors: 1 })]);
  });
});
