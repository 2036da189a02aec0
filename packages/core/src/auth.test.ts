import { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER } from '@shopgraph/testkit';
import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenVerifier } from './auth.ts';

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
