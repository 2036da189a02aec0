import { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER } from '@shopgraph/testkit';
import { createLocalJWKSet, SignJWT, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenIssuer, createTokenVerifier, generateSigningKey, type RemoteKeysOptions } from './auth.ts';

describe('createTokenVerifier', () => {
  it('keeps the most recently used identities: a token seen again is not verified again', async () => {
    const issuer = await createTestIssuer();
    const local = createLocalJWKSet(issuer.jwks);
    let lookups = 0;
    const verifier = createTokenVerifier({
      issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, cacheSize: 2,
      keys: (header, token) => {
        lookups++;
        return local(header, token);
      },
    });
    const [a, b, c] = await Promise.all([issuer.customer('a'), issuer.customer('b'), issuer.customer('c')]);
    for (const token of [a, b, a, c]) await verifier.verify(token);
    expect(lookups).toBe(3);
    // c took b's place, the least recently used: a is still known, b is verified again.
    expect((await verifier.verify(a)).userId).toBe('a');
    expect(lookups).toBe(3);
    expect((await verifier.verify(b)).userId).toBe('b');
    expect(lookups).toBe(4);
  });

  it('refuses a known token once it has expired', async () => {
    const issuer = await createTestIssuer(1);
    const verifier = createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 0, keys: issuer.jwks });
    const token = await issuer.customer();
    await verifier.verify(token);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await expect(verifier.verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});

/** A JWKS server the test controls: the keys it serves, and whether it answers at all. */
async function startJwksServer(keys: JWK[]) {
  const served = { keys: [...keys], mode: 'up' as 'up' | 'hang', fetches: 0 };
  const server = createServer((_req, res) => {
    served.fetches++;
    if (served.mode === 'hang') return;
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: served.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    served,
    url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function keyPair() {
  const { privateJwk, publicJwk } = await generateSigningKey();
  const issuer = await createTokenIssuer({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, privateKey: privateJwk, ttlSeconds: 300 });
  // A new token each time: the verifier's cache must not answer for it.
  return { publicJwk, privateJwk, token: async () => (await issuer.sign(randomUUID(), ['customer'])).token };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claims = () => ({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: randomUUID(), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 });
const refusal = (reason: string) => ({ extensions: { code: 'UNAUTHENTICATED' }, message: `Invalid access token: ${reason}` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createTokenVerifier with a JWKS URL', () => {
  const servers: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  const start = async (keys: JWK[]) => {
    const server = await startJwksServer(keys);
    servers.push(server);
    return server;
  };
  const verifierOf = (url: URL, remote: RemoteKeysOptions = {}) =>
    createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, keys: url, remote });

  it('refuses alg "none", HS256 signed with the public key as secret, and an unknown kid', async () => {
    const known = await keyPair();
    const server = await start([known.publicJwk]);
    const verifier = verifierOf(server.url);
    expect((await verifier.verify(await known.token())).scopes.has('customer')).toBe(true);

    await expect(verifier.verify(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`)).rejects.toMatchObject(refusal('algorithm not allowed'));
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(known.publicJwk));
    const confused = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: known.publicJwk.kid! }).sign(publicKeyAsSecret);
    await expect(verifier.verify(confused)).rejects.toMatchObject(refusal('algorithm not allowed'));
    // Even where HS256 were allowed, an EC key from the set is no HMAC secret.
    const lenient = createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256', 'HS256'], clockToleranceSeconds: 5, keys: server.url });
    await expect(lenient.verify(confused)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });

    const stranger = await keyPair();
    await expect(verifier.verify(await stranger.token())).rejects.toMatchObject(refusal('unknown signing key'));
    // A key with a known kid but other material is a bad signature, not a known key.
    const impostor = await createTokenIssuer({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, privateKey: { ...stranger.privateJwk, kid: known.publicJwk.kid! }, ttlSeconds: 300 });
    await expect(verifier.verify((await impostor.sign('mallory', ['staff'])).token)).rejects.toMatchObject(refusal('bad signature'));
  });

  it('follows key rotation: a new key is accepted after the cool-down, a removed one refused once the set is refetched', async () => {
    const [first, second] = await Promise.all([keyPair(), keyPair()]);
    const server = await start([first.publicJwk]);
    const verifier = verifierOf(server.url, { cooldownMs: 300, maxAgeMs: 1_000 });
    await verifier.verify(await first.token());

    server.served.keys = [second.publicJwk, first.publicJwk];
    // Within the cool-down of the last fetch, an unknown kid does not make it fetch again.
    await expect(verifier.verify(await second.token())).rejects.toMatchObject(refusal('unknown signing key'));
    await sleep(350);
    expect((await verifier.verify(await second.token())).userId).toBeTruthy();

    server.served.keys = [second.publicJwk];
    await sleep(1_050);
    await expect(verifier.verify(await first.token())).rejects.toMatchObject(refusal('unknown signing key'));
    expect((await verifier.verify(await second.token())).userId).toBeTruthy();
  });

  it('keeps verifying with the keys it knew while the key server is down, for the stale TTL; unknown keys fail within 3 s', async () => {
    const [known, unknown] = await Promise.all([keyPair(), keyPair()]);
    const server = await start([known.publicJwk]);
    const verifier = verifierOf(server.url, { cooldownMs: 200, maxAgeMs: 200, staleTtlMs: 4_000 });
    await verifier.verify(await known.token());
    await server.stop();
    await sleep(250);

    // The refetch is refused (connection refused): the key fetched before still verifies.
    expect((await verifier.verify(await known.token())).userId).toBeTruthy();
    let started = performance.now();
    await expect(verifier.verify(await unknown.token())).rejects.toMatchObject(refusal('unknown signing key'));
    expect(performance.now() - started).toBeLessThan(3_000);

    // Past the stale TTL of the last good fetch, nothing verifies any more: fail closed.
    await sleep(4_000);
    started = performance.now();
    await expect(verifier.verify(await known.token())).rejects.toMatchObject(refusal('issuer keys unavailable'));
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('does not wait on a key server that hangs: the fetch times out within 3 s, then known keys verify without waiting', async () => {
    const [known, unknown] = await Promise.all([keyPair(), keyPair()]);
    const server = await start([known.publicJwk]);
    const verifier = verifierOf(server.url, { cooldownMs: 2_000, maxAgeMs: 200 });
    await verifier.verify(await known.token());
    server.served.mode = 'hang';
    await sleep(250);

    let started = performance.now();
    expect((await verifier.verify(await known.token())).userId).toBeTruthy();
    expect(performance.now() - started).toBeLessThan(3_500);
    started = performance.now();
    await expect(verifier.verify(await unknown.token())).rejects.toMatchObject(refusal('unknown signing key'));
    expect((await verifier.verify(await known.token())).userId).toBeTruthy();
    // Within the cool-down after the failed fetch the server is not asked again.
    expect(performance.now() - started).toBeLessThan(500);
    expect(server.served.fetches).toBe(2);
  });
});
