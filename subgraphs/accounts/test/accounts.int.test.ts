import { createTokenVerifier, type Orm } from '@shopgraph/kit';
import { errorCodes, graphql, type ServiceUnderTest } from '@shopgraph/testkit';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, LOGIN, LOGOUT, ME, mutate, PASSWORD, REFRESH, REGISTER, startAccounts, uniqueEmail, type RunningApp } from './support.ts';

let running: ServiceUnderTest & RunningApp;
let url: string;
let orm: Orm;

beforeAll(async () => {
  running = await startAccounts();
  // orm: a second connection to the same database, to look at what the service stored.
  ({ url, orm } = running);
});
afterAll(async () => {
  await running?.close();
});

const register = (input: Record<string, unknown>) => mutate(url, REGISTER, { name: 'Ada Lovelace', password: PASSWORD, ...input });
const login = (email: string, password = PASSWORD) => mutate(url, LOGIN, { email, password });
const refresh = (refreshToken: string) => mutate(url, REFRESH, { refreshToken });
const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => orm.em.fork().execute<T[]>(query, params);

describe('accounts subgraph', () => {
  it('registers, logs in and answers me for the token holder', async () => {
    const email = uniqueEmail('ada');
    const registered = await register({ email: `  ${email.toUpperCase()} `, name: '  Ada Lovelace ' });
    expect(registered.errors).toEqual([]);
    expect(registered.user).toMatchObject({ email, name: 'Ada Lovelace' });
    expect(registered.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(registered.refreshToken).toMatch(/^[\w-]{43}$/);
    expect(registered.expiresIn).toBeGreaterThan(890);
    expect(registered.expiresIn).toBeLessThanOrEqual(900);

    const loggedIn = await login(email.toUpperCase());
    expect(loggedIn.errors).toEqual([]);
    expect(loggedIn.user).toEqual(registered.user);
    expect(loggedIn.refreshToken).not.toBe(registered.refreshToken);

    const me = await graphql(url, ME, {}, loggedIn.accessToken);
    expect(me.errors).toBeUndefined();
    expect(me.data!['me']).toEqual(registered.user);
  });

  it('answers me with null for anonymous callers and 401 for a bad token', async () => {
    const anonymous = await graphql(url, ME);
    expect(anonymous).toMatchObject({ status: 200, data: { me: null } });
    expect(anonymous.errors).toBeUndefined();

    const bad = await graphql(url, ME, {}, 'not.a.token');
    expect(bad.status).toBe(401);
    expect(errorCodes(bad)).toEqual(['UNAUTHENTICATED']);
  });

  it('issues ES256 tokens that verify against the JWKS served over HTTP', async () => {
    const { accessToken, user } = await register({ email: uniqueEmail('jwks') });

    const jwksResponse = await fetch(running.jwksUrl);
    expect(jwksResponse.status).toBe(200);
    expect(jwksResponse.headers.get('cache-control')).toBe('public, max-age=300');
    const jwks = (await jwksResponse.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
    expect(jwks.keys[0]).not.toHaveProperty('d');

    const verifier = createTokenVerifier({ issuer: 'http://127.0.0.1:4001', audience: 'shopgraph', algorithms: ['ES256'], clockToleranceSeconds: 5, keys: new URL(running.jwksUrl) });
    const identity = await verifier.verify(accessToken);
    expect(identity.userId).toBe(user.id);
    expect([...identity.scopes]).toEqual(['customer']);

    const { header, claims } = decodeJwt(accessToken);
    expect(header).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]!['kid'] });
    expect(claims).toMatchObject({ iss: 'http://127.0.0.1:4001', aud: 'shopgraph', sub: user.id, scope: 'customer' });
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(900);

    // A verifier expecting another issuer or audience refuses it.
    const otherAudience = createTokenVerifier({ issuer: 'http://127.0.0.1:4001', audience: 'elsewhere', algorithms: ['ES256'], clockToleranceSeconds: 5, keys: new URL(running.jwksUrl) });
    await expect(otherAudience.verify(accessToken)).rejects.toThrow(/claim "aud"/);
  });

  it('reports invalid registration input as typed user errors', async () => {
    const codeOf = async (input: Record<string, unknown>) => {
      const result = await register({ email: uniqueEmail('v'), ...input });
      if (result.errors.length) expect(result).toMatchObject({ user: null, accessToken: null, refreshToken: null });
      return result.errors.map((e: { code: string; field: string[] }) => `${e.code}:${e.field.join('.')}`);
    };
    for (const email of ['', 'plain', 'a@b', 'a b@example.com', '@example.com', 'a@-example.com', `${'x'.repeat(250)}@example.com`]) {
      expect(await codeOf({ email })).toEqual(['INVALID_EMAIL:input.email']);
    }
    for (const password of ['', 'Short1!', 'alllowercaseletters', '12345678901234', 'Aaaaaaaaaaaaaa', `Aa1${'x'.repeat(200)}`]) {
      expect(await codeOf({ password })).toEqual(['WEAK_PASSWORD:input.password']);
    }
    const email = uniqueEmail('same');
    expect(await codeOf({ email, password: email })).toEqual(['WEAK_PASSWORD:input.password']);
    for (const name of ['', '   ', 'x'.repeat(101), 'bell\u0007']) {
      expect(await codeOf({ name })).toEqual(['INVALID_NAME:input.name']);
    }
    expect(await codeOf({ password: 'long enough with spaces', name: 'x'.repeat(100) })).toEqual([]);
  });

  it('refuses a duplicate email, whatever its case', async () => {
    const email = uniqueEmail('dup');
    expect((await register({ email })).errors).toEqual([]);
    const again = await register({ email: email.toUpperCase() });
    expect(again.errors).toEqual([{ code: 'EMAIL_TAKEN', message: expect.any(String), field: ['input', 'email'] }]);
  });

  it('lets exactly one of five concurrent registrations of an email succeed', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => register({ email, name: `Racer ${i}` })));
    const codes = results.map((r) => r.errors[0]?.code ?? 'OK').sort();
    expect(codes).toEqual(['EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'EMAIL_TAKEN', 'OK']);
    expect(await sql(`select id from "user" where email = ?`, [email])).toHaveLength(1);
  });

  it('answers a wrong password and an unknown email the same way, in comparable time', async () => {
    const email = uniqueEmail('creds');
    await register({ email });
    const wrongPassword = await login(email, 'Wrong-password-1');
    const unknownEmail = await login(uniqueEmail('nobody'));
    expect(wrongPassword.errors).toEqual([{ code: 'INVALID_CREDENTIALS', message: expect.any(String), field: null }]);
    expect(unknownEmail).toEqual(wrongPassword);
    expect(unknownEmail).toMatchObject({ accessToken: null, refreshToken: null, user: null });

    // No user enumeration by timing: an unknown email still costs a hash computation.
    const time = async (run: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        await run();
        samples.push(performance.now() - start);
      }
      return samples.sort((a, b) => a - b)[1]!;
    };
    const wrongMs = await time(() => login(email, 'Wrong-password-1'));
    const unknownMs = await time(() => login(uniqueEmail('nobody')));
    expect(unknownMs).toBeGreaterThan(wrongMs / 3);
  });

  it('rotates refresh tokens and revokes the family when a spent one comes back', async () => {
    const email = uniqueEmail('rotate');
    const { refreshToken: first, user } = await register({ email });
    const other = await login(email); // another session of the same user

    const second = await refresh(first);
    expect(second.errors).toEqual([]);
    expect(second.refreshToken).not.toBe(first);
    expect(decodeJwt(second.accessToken).claims).toMatchObject({ sub: user.id, scope: 'customer' });
    expect((await graphql(url, ME, {}, second.accessToken)).data!['me'].id).toBe(user.id);

    const third = await refresh(second.refreshToken);
    expect(third.errors).toEqual([]);

    // `first` was spent: presenting it again fails and ends the whole session ...
    const reused = await refresh(first);
    expect(reused.errors).toEqual([{ code: 'INVALID_REFRESH_TOKEN', message: expect.any(String), field: ['input', 'refreshToken'] }]);
    expect(reused.accessToken).toBeNull();
    expect((await refresh(third.refreshToken)).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
    // ... but not the user's other sessions.
    expect((await refresh(other.refreshToken)).errors).toEqual([]);

    expect((await refresh('made-up')).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('lets exactly one of two concurrent refreshes with the same token succeed', async () => {
    const { refreshToken } = await register({ email: uniqueEmail('twice') });
    const results = await Promise.all([refresh(refreshToken), refresh(refreshToken)]);
    const winners = results.filter((r) => r.errors.length === 0);
    expect(winners).toHaveLength(1);
    expect(winners[0].accessToken).toEqual(expect.any(String));
    expect(results.find((r) => r.errors.length)!.errors[0].code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('refuses an expired refresh token', async () => {
    const { refreshToken } = await register({ email: uniqueEmail('expired') });
    const tokenHash = createHash('sha256').update(refreshToken).digest('hex');
    await sql(`update refresh_token set expires_at = now() - interval '1 second' where token_hash = ?`, [tokenHash]);
    expect((await refresh(refreshToken)).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('logs out: the refresh token and its family stop working', async () => {
    const { refreshToken } = await register({ email: uniqueEmail('logout') });
    const next = await refresh(refreshToken);
    expect((await mutate(url, LOGOUT, { refreshToken: next.refreshToken })).errors).toEqual([]);
    expect((await refresh(next.refreshToken)).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
    expect((await mutate(url, LOGOUT, { refreshToken: next.refreshToken })).errors).toEqual([]); // idempotent
    expect((await mutate(url, LOGOUT, { refreshToken: 'made-up' })).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('stores salted password hashes and refresh token hashes, never the secrets', async () => {
    const a = await register({ email: uniqueEmail('hash-a') });
    const b = await register({ email: uniqueEmail('hash-b') });
    const rows = await sql<{ password_hash: string }>(`select password_hash from "user" where id in (?, ?)`, [a.user.id, b.user.id]);
    expect(rows).toHaveLength(2);
    for (const { password_hash } of rows) {
      expect(password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
      expect(password_hash).not.toContain(PASSWORD);
    }
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);

    const tokens = await sql<{ token_hash: string }>(`select token_hash from refresh_token where user_id = ?`, [a.user.id]);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.token_hash).not.toBe(a.refreshToken);
    expect(tokens[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('resolves User references, showing the email only to the user themself', async () => {
    const a = await register({ email: uniqueEmail('ref-a'), name: 'Ref A' });
    const b = await register({ email: uniqueEmail('ref-b') });
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }`;
    const representations = [{ __typename: 'User', id: a.user.id }, { __typename: 'User', id: crypto.randomUUID() }, { __typename: 'User', id: 'nope' }];
    const names = await graphql(url, query, { r: representations });
    expect(names.errors).toBeUndefined();
    expect(names.data!['_entities']).toEqual([{ id: a.user.id, name: 'Ref A' }, null, null]);

    const withEmail = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { email } } }`;
    const own = await graphql(url, withEmail, { r: [{ __typename: 'User', id: a.user.id }] }, a.accessToken);
    expect(own.data!['_entities']).toEqual([{ email: a.user.email }]);
    const someoneElse = await graphql(url, withEmail, { r: [{ __typename: 'User', id: a.user.id }] }, b.accessToken);
    expect(errorCodes(someoneElse)).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(url, withEmail, { r: [{ __typename: 'User', id: a.user.id }] }))).toEqual(['FORBIDDEN']);
  });

  it('is ready when its database answers', async () => {
    const ready = await fetch(`${running.base}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('has migrations that build exactly the schema its entities describe', async () => {
    expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
  });
});
