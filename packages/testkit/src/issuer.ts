import { createTokenIssuer, createTokenVerifier, generateSigningKey, Scope, type TokenIssuer, type TokenVerifier } from '@shopgraph/kit';
import type { JWK } from 'jose';

export const TEST_ISSUER = 'https://issuer.test';
export const TEST_AUDIENCE = 'shopgraph';

export interface TestIssuer {
  verifier: TokenVerifier;
  issuer: TokenIssuer;
  jwks: { keys: JWK[] };
  privateJwk: JWK;
  customer(userId?: string): Promise<string>;
  staff(userId?: string): Promise<string>;
}

/** An in-process issuer with its own key pair, and a verifier that trusts only it. */
export async function createTestIssuer(ttlSeconds = 300): Promise<TestIssuer> {
  const { privateJwk, publicJwk } = await generateSigningKey();
  const jwks = { keys: [publicJwk] };
  const issuer = await createTokenIssuer({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, privateKey: privateJwk, ttlSeconds });
  const verifier = createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, keys: jwks });
  return {
    verifier,
    issuer,
    jwks,
    privateJwk,
    customer: async (userId = crypto.randomUUID()) => (await issuer.sign(userId, [Scope.CUSTOMER])).token,
    staff: async (userId = crypto.randomUUID()) => (await issuer.sign(userId, [Scope.CUSTOMER, Scope.STAFF])).token,
  };
}
