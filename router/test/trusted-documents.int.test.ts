import { bearer, connectWs, errorCodes, graphql } from '@shopgraph/testkit';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustedDocumentStore } from '../src/trusted-documents.ts';
import { startWorld, type World } from './harness.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const REGISTERED = 'query Products { products { id name } }';
const OTHER = '{ products { id price } }';

let world: World;
const trusted = new TrustedDocumentStore();
let url: string;

beforeAll(async () => {
  world = await startWorld();
  ({ url } = await world.router({}, { trustedDocuments: trusted }));
});

afterAll(async () => {
  await world?.close();
});

async function post(body: Record<string, unknown>): Promise<{ status: number; body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as never };
}
const byId = (query: string, withText = false) => ({ ...(withText ? { query } : {}), extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } });
const codes = (response: Awaited<ReturnType<typeof post>>) => (response.body.errors ?? []).map((e) => e.extensions?.code);

describe('router: trusted documents', () => {
  it('off (the default): any valid operation runs, and a registered one may also be sent by id alone', async () => {
    trusted.replace({ required: false, documents: [{ id: sha256(REGISTERED), body: REGISTERED }] });
    expect((await post({ query: OTHER })).body.errors).toBeUndefined();
    expect(await post(byId(REGISTERED))).toEqual({ status: 200, body: { data: { products: [{ id: 'p1', name: 'Kettle' }, { id: 'p2', name: 'Mug' }] } } });
    // Unregistered by id: automatic persisted queries as usual (unknown, then sent with its text, then known).
    expect(codes(await post(byId(OTHER)))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect((await post(byId(OTHER, true))).body.errors).toBeUndefined();
    expect((await post(byId(OTHER))).body.errors).toBeUndefined();
  });

  it('required: runs registered operations, by id or by their text, and refuses anything else with a stable code', async () => {
    trusted.replace({ required: true, documents: [{ id: sha256(REGISTERED), body: REGISTERED }] });
    expect((await post(byId(REGISTERED))).body).toEqual({ data: { products: [{ id: 'p1', name: 'Kettle' }, { id: 'p2', name: 'Mug' }] } });
    expect((await post({ query: REGISTERED })).body.errors).toBeUndefined();
    expect((await post(byId(REGISTERED, true))).body.errors).toBeUndefined();

    const refused = await post({ query: OTHER });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errors: [{ message: expect.stringMatching(/registered operations only/), extensions: { code: 'OPERATION_NOT_TRUSTED' } }] });
    // A text only slightly different is another document.
    expect(codes(await post({ query: `${REGISTERED} ` }))).toEqual(['OPERATION_NOT_TRUSTED']);
    // Known to the APQ cache from before is not enough, and nothing new is added to it.
    expect(codes(await post(byId(OTHER)))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(codes(await post(byId('{ products { name } }', true)))).toEqual(['OPERATION_NOT_TRUSTED']);
    expect(codes(await post(byId('{ products { name } }')))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    // GET too.
    const get = await fetch(`${url}?query=${encodeURIComponent(OTHER)}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(get.status).toBe(400);
    expect(((await get.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('OPERATION_NOT_TRUSTED');
  });

  it('required: graphql-ws runs registered operations only as well', async () => {
    trusted.replace({ required: true, documents: [{ id: sha256(REGISTERED), body: REGISTERED }] });
    const client = await connectWs(url, bearer(await world.issuer.customer()));
    client.subscribe('1', OTHER);
    expect(await client.takeFor('1')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'OPERATION_NOT_TRUSTED' } }] });
    client.subscribe('2', REGISTERED);
    expect(await client.takeFor('2')).toMatchObject({ type: 'next', payload: { data: { products: [{ id: 'p1' }, { id: 'p2' }] } } });
    await client.close();
  });

  it('follows the list as it changes: turning the requirement off lets everything through again', async () => {
    trusted.replace({ required: true, documents: [] });
    expect(errorCodes(await graphql(url, REGISTERED))).toEqual(['OPERATION_NOT_TRUSTED']);
    trusted.replace({ required: false, documents: [] });
    expect((await graphql(url, OTHER)).errors).toBeUndefined();
  });
});
