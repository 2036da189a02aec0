import { advisoryLock, generateSigningKey, type EntityManager } from '@shopgraph/kit';
import { SigningKey, type Jwk } from '../entities/signing-key.entity.ts';


/** The members of a JWK that may be published (never `d` or any other private part). */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

export function publicOnly(jwk: Jwk): Jwk {
  return Object.fromEntries(PUBLIC_MEMBERS.filter((member) => jwk[member] !== undefined).map((member) => [member, jwk[member]]));
}

/** Access-token signing keys; they live in the database so restarts and replicas share them. */
export class SigningKeyService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /**
   * Every signing key, newest first (the one to sign with); the first caller on an empty database
   * creates one. Two replicas starting at once end up with the same single key.
   */
  ensureKeys(): Promise<SigningKey[]> {
    return this.em.transactional(async (em) => {
      await advisoryLock(em, 'accounts.signing_key');
      const keys = await em.find(SigningKey, {}, { orderBy: { createdAt: 'desc', kid: 'asc' } });
      if (keys.length) return keys;
      const { privateJwk, publicJwk } = await generateSigningKey('ES256');
      const key = em.create(SigningKey, { kid: privateJwk.kid!, alg: privateJwk.alg!, privateJwk, publicJwk: publicOnly(publicJwk) });
      await em.flush();
      return [key];
    });
  }
}
