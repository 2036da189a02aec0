import { createTestIssuer, errorCodes, graphql, type GraphQLResponse } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claims, hmacWithPublicKey, resolverCalls, signWithIssuerKey, startWorld, unsignedToken, type World } from './harness.ts';

let world: World;
let url: string;

beforeAll(async () => {
  world = await startWorld();
  ({ url } = await world.router());
});

afterAll(async () => {
  await world?.close();
});

const PUBLIC = '{ products { id stock } }';
const SET_PRICE = 'mutation($id: ID!, $amount: Int!) { setPrice(id: $id, amount: $amount) { id price } }';

/** Asserts the router refused the request before any subgraph saw it. */
async function refusedBeforeSubgraphs(send: () => Promise<GraphQLResponse>): Promise<GraphQLResponse> {
  const requests = world.subgraphRequests();
  const response = await send();
  expect(world.subgraphRequests()).toBe(requests);
  expect(response.data ?? null).toBeNull();
  return response;
}

describe('router: access tokens', () => {
  it('accepts a valid token from the JWKS URL', async () => {
    const response = await graphql(url, PUBLIC, {}, await world.issuer.customer());
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
  });

  const t = () => Math.floor(Date.now() / 1000);
  // Each with the reason the verifier gives, so a token refused for some other reason fails the test.
  const badTokens: [string, RegExp, () => Promise<string>][] = [
    ['alg "none" (unsigned)', /algorithm not allowed/, async () => unsignedToken(world.issuer)],
    ['HS256 signed with the public key as HMAC secret', /algorithm not allowed/, () => hmacWithPublicKey(world.issuer)],
    ['expired', /expired/, () => signWithIssuerKey(world.issuer, claims({ iat: t() - 600, nbf: t() - 600, exp: t() - 60 }))],
    ['not yet valid (nbf beyond the clock tolerance)', /"nbf"/, () => signWithIssuerKey(world.issuer, claims({ nbf: t() + 60 }))],
    ['wrong issuer', /"iss"/, () => signWithIssuerKey(world.issuer, claims({ iss: 'https://evil.test' }))],
    ['wrong audience', /"aud"/, () => signWithIssuerKey(world.issuer, claims({ aud: 'another-api' }))],
    ['without a subject', /"sub"/, () => signWithIssuerKey(world.issuer, claims({ sub: undefined }))],
    ['garbage', /malformed/, async () => 'not-a-jwt'],
    ['a JWT with a made-up signature', /bad signature/, async () => 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'],
    ['signed by an unknown key', /unknown signing key/, async () => (await createTestIssuer()).staff()],
    ['signed by an unknown key claiming a trusted kid', /bad signature/, async () => {
      const other = await createTestIssuer();
      return signWithIssuerKey({ ...other, privateJwk: { ...other.privateJwk, kid: world.issuer.privateJwk.kid! } }, claims({ scope: 'customer staff' }));
    }],
  ];

  it.each(badTokens)('refuses a token that is %s with 401 UNAUTHENTICATED, even for public fields', async (_name, reason, make) => {
    const token = await make();
    const response = await refusedBeforeSubgraphs(() => graphql(url, PUBLIC, {}, token));
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    expect(response.errors![0]!.message).toMatch(reason);
  });

  it('refuses an Authorization header that is not a bearer token', async () => {
    const response = await refusedBeforeSubgraphs(async () => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic dXNlcjpwYXNz' }, body: JSON.stringify({ query: PUBLIC }) });
      return { status: res.status, ...((await res.json()) as object) };
    });
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });

  it('accepts a token whose nbf is in the future but within the clock tolerance', async () => {
    const token = await signWithIssuerKey(world.issuer, claims({ nbf: Math.floor(Date.now() / 1000) + 2 }));
    expect((await graphql(url, PUBLIC, {}, token)).errors).toBeUndefined();
  });
});

describe('router: @authenticated and @requiresScopes, before execution', () => {
  it('refuses a staff mutation to a customer with FORBIDDEN, without calling any subgraph', async () => {
    const calls = resolverCalls.setPrice;
    const response = await refusedBeforeSubgraphs(async () => graphql(url, SET_PRICE, { id: 'p1', amount: 1 }, await world.issuer.customer()));
    expect(response.status).toBe(403);
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect(resolverCalls.setPrice).toBe(calls);
  });

  it('refuses a staff mutation to an anonymous caller with UNAUTHENTICATED', async () => {
    const calls = resolverCalls.setPrice;
    const response = await refusedBeforeSubgraphs(() => graphql(url, SET_PRICE, { id: 'p1', amount: 1 }));
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    expect(resolverCalls.setPrice).toBe(calls);
  });

  it('runs a staff mutation for staff', async () => {
    const calls = resolverCalls.setPrice;
    const response = await graphql(url, SET_PRICE, { id: 'p2', amount: 1_100 }, await world.issuer.staff());
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ setPrice: { id: 'p2', price: 1_100 } });
    expect(resolverCalls.setPrice).toBe(calls + 1);
  });

  it('refuses @authenticated fields to anonymous callers and serves them to any signed-in user', async () => {
    const anonymous = await refusedBeforeSubgraphs(() => graphql(url, '{ whoami }'));
    expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);
    const signedIn = await graphql(url, '{ whoami }', {}, await world.issuer.customer('u-42'));
    expect(signedIn.data).toEqual({ whoami: 'u-42' });
  });

  const hidden: [string, string][] = [
    ['a nested field', '{ products { id cost } }'],
    ['an aliased field', '{ products { id c: cost } }'],
    ['a named fragment', '{ products { ...P } } fragment P on Product { id ...Q } fragment Q on Product { cost }'],
    ['an inline fragment', '{ product(id: "p1") { ... on Product { cost } } }'],
    ['a field under @skip(if: true)', '{ products { id cost @skip(if: true) } }'],
  ];

  it.each(hidden)('finds a guarded field in %s', async (_name, query) => {
    const customer = await refusedBeforeSubgraphs(async () => graphql(url, query, {}, await world.issuer.customer()));
    expect(errorCodes(customer)).toEqual(['FORBIDDEN']);
    const staff = await graphql(url, query, {}, await world.issuer.staff());
    expect(staff.errors).toBeUndefined();
  });

  it('judges only the operation that runs, not others in the same document', async () => {
    const document = 'query Public { products { id } } query Secret { products { cost } }';
    const token = await world.issuer.customer();
    const run = async (operationName: string) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: document, operationName }) });
      return { status: res.status, ...((await res.json()) as object) } as GraphQLResponse;
    };
    expect((await run('Public')).errors).toBeUndefined();
    expect(errorCodes(await run('Secret'))).toEqual(['FORBIDDEN']);
    // And the cached walk of the first operation does not leak into the second.
    expect((await run('Public')).errors).toBeUndefined();
  });

  it('leaves subgraphs enforcing too (defence in depth): a customer calling one directly is refused', async () => {
    const direct = await graphql(world.subgraphs.products.url, SET_PRICE, { id: 'p1', amount: 1 }, await world.issuer.customer());
    expect(errorCodes(direct)).toEqual(['FORBIDDEN']);
  });
});
