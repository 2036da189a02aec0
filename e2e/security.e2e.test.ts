import { errorCodes, graphql } from '@shopgraph/testkit';
import { createPublicKey } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operation } from './operations.ts';
import { startSupergraph, type RunningSupergraph } from './supergraph.ts';

let graph: RunningSupergraph;
let userId: string;
let accountsKey: JWK;

beforeAll(async () => {
  graph = await startSupergraph();
  const registered = await graphql(graph.routerUrl, operation('Register'), { input: { email: 'eve@example.com', password: 'correct horse battery', name: 'Eve' } });
  userId = registered.data!['register'].user.id;
  // The real signing key, read from behind the API, to forge otherwise-valid tokens.
  const db = new pg.Client({ connectionString: graph.databaseUrls['accounts'] });
  await db.connect();
  accountsKey = (await db.query('select private_jwk from signing_key limit 1')).rows[0].private_jwk;
  await db.end();
});

afterAll(async () => {
  await graph?.close();
});

const ISSUER = 'http://accounts.e2e.test';
const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const claims = () => ({ sub: userId, scope: 'customer staff', iat: now(), exp: now() + 300 });

async function signWithAccountsKey(overrides: { iss?: string; aud?: string; exp?: number; nbf?: number }) {
  const key = await importJWK(accountsKey, accountsKey.alg);
  const jwt = new SignJWT({ ...claims(), iss: overrides.iss ?? ISSUER, aud: overrides.aud ?? 'shopgraph', ...(overrides.nbf ? { nbf: overrides.nbf } : {}) })
    .setProtectedHeader({ alg: accountsKey.alg!, kid: accountsKey.kid! })
    .setExpirationTime(overrides.exp ?? now() + 300);
  return jwt.sign(key);
}

async function expectRefused(token: string) {
  const response = await graphql(graph.routerUrl, operation('Me'), {}, token);
  expect(response.status).toBe(401);
  expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  expect(response.data ?? null).toBeNull();
}

describe('access tokens at the router', () => {
  it('accepts a token the accounts service signed', async () => {
    const token = await signWithAccountsKey({});
    const me = await graphql(graph.routerUrl, operation('Me'), {}, token);
    expect(me.data!['me'].email).toBe('eve@example.com');
  });

  it('refuses alg "none"', async () => {
    await expectRefused(`${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...claims(), iss: ISSUER, aud: 'shopgraph' })}.`);
  });

  it('refuses HS256 signed with the public key as the HMAC secret', async () => {
    const { d: _private, ...publicJwk } = accountsKey;
    const publicPem = createPublicKey({ key: publicJwk as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const token = await new SignJWT({ ...claims(), iss: ISSUER, aud: 'shopgraph' })
      .setProtectedHeader({ alg: 'HS256', kid: accountsKey.kid! })
      .sign(new TextEncoder().encode(String(publicPem)));
    await expectRefused(token);
  });

  it('refuses expired, not-yet-valid, wrong-issuer and wrong-audience tokens signed with the real key', async () => {
    await expectRefused(await signWithAccountsKey({ exp: now() - 60 }));
    await expectRefused(await signWithAccountsKey({ nbf: now() + 600 }));
    await expectRefused(await signWithAccountsKey({ iss: 'https://evil.example' }));
    await expectRefused(await signWithAccountsKey({ aud: 'another-api' }));
  });

  it('treats a missing token as anonymous: public fields work, private ones do not', async () => {
    const products = await graphql(graph.routerUrl, operation('Products'), { first: 1 });
    expect(products.errors).toBeUndefined();
    const me = await graphql(graph.routerUrl, operation('Me'), {});
    expect(me.data!['me']).toBeNull();
    const cart = await graphql(graph.routerUrl, operation('Cart'), {});
    expect(errorCodes(cart)).toContain('UNAUTHENTICATED');
  });
});

describe('subgraphs called directly', () => {
  it('do not act on spoofed identity headers or forged tokens', async () => {
    const cartUrl = graph.subgraphUrls['cart']!;
    const spoofed = await fetch(cartUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': userId, 'x-user-scopes': 'staff', 'x-forwarded-user': userId },
      body: JSON.stringify({ query: '{ cart { id lines { quantity } } }' }),
    });
    expect(errorCodes({ status: spoofed.status, ...((await spoofed.json()) as object) })).toContain('UNAUTHENTICATED');

    const forged = await new SignJWT({ ...claims(), iss: ISSUER, aud: 'shopgraph' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('guessed-secret'));
    const response = await graphql(graph.subgraphUrls['catalog']!, operation('CreateCategory'), { input: { name: 'Forged', slug: 'forged' } }, forged);
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('hostile documents', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(graph.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it.each([
    ['depth 10,000', `{ ${'a { '.repeat(10_000)} b ${'} '.repeat(10_000)} }`, 413, 'DOCUMENT_TOO_LARGE', /bytes/],
    ['depth 30 (under the token limit)', `{ ${'a { '.repeat(30)} b ${'} '.repeat(30)} }`, 400, 'GRAPHQL_VALIDATION_FAILED', /depth/i],
    ['1,000 aliases', `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: categories { id }`).join(' ')} }`, 400, 'GRAPHQL_PARSE_FAILED', /tokens/i],
    ['100 aliases (under the token limit)', `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: categories { id }`).join(' ')} }`, 400, 'GRAPHQL_VALIDATION_FAILED', /aliases/i],
    ['100k tokens', `{ categories { ${'id '.repeat(100_000)} } }`, 413, 'DOCUMENT_TOO_LARGE', /bytes/],
    ['4,000 tokens in 12 KB (under the size limit)', `{ categories { ${'id '.repeat(4_000)} } }`, 400, 'GRAPHQL_PARSE_FAILED', /tokens/],
    ['a legal query padded with 40 KB of comments', `# ${'x'.repeat(40_000)}\n{ categories { id } }`, 413, 'DOCUMENT_TOO_LARGE', /bytes/],
  ])('refuses %s quickly, with a stable code, and keeps serving', async (_name, query, status, code, reason) => {
    const started = performance.now();
    const response = await post(JSON.stringify({ query }));
    const body = (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(response.status).toBe(status);
    expect(body.errors?.[0]?.extensions?.code).toBe(code);
    expect(body.errors?.map((e) => e.message).join('\n')).toMatch(reason);
    const healthy = await graphql(graph.routerUrl, operation('Categories'));
    expect(healthy.errors).toBeUndefined();
  });

  it('runs a password hash at most once per operation, however the logins are spread (EXPENSIVE_FIELD_REPEATED)', async () => {
    const login = (alias: string) => `${alias}: login(input: { email: "nobody@example.test", password: "wrong-password" }) { accessToken }`;
    for (const query of [
      `mutation { ${login('a')} ${login('b')} }`,
      // Interleaved with another subgraph's field: the planner would send each login to accounts alone.
      `mutation { ${login('a')} removeFromCart(input: { productId: "x" }) { errors { code } } ${login('b')} }`,
      `mutation { ...twice } fragment twice on Mutation { ${login('a')} ${login('b')} }`,
    ]) {
      const response = await post(JSON.stringify({ query }));
      expect(response.status, query).toBe(400);
      expect(errorCodes({ status: response.status, ...((await response.json()) as object) }), query).toEqual(['EXPENSIVE_FIELD_REPEATED']);
    }
  });

  it('answers malformed JSON and a huge body with 4xx', async () => {
    expect((await post('{"query": ')).status).toBe(400);
    expect((await post(JSON.stringify({ query: `{ categories { id } }`, padding: 'x'.repeat(5_000_000) }))).status).toBe(413);
  });

  it('refuses array batching', async () => {
    const response = await post(JSON.stringify([{ query: '{ categories { id } }' }, { query: '{ categories { id } }' }]));
    expect(response.status).toBe(400);
  });
});
