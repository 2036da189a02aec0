import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import type { TokenIssuerOptions } from '@shopgraph/kit';

export type Jwk = TokenIssuerOptions['privateKey'];

/** An access-token signing key pair, shared by every replica (and restart) through the database. */
export const SigningKey = defineEntity({
  name: 'SigningKey',
  properties: {
    kid: p.string().primary(),
    alg: p.string(),
    privateJwk: p.json<Jwk>(),
    publicJwk: p.json<Jwk>(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type SigningKey = InferEntity<typeof SigningKey>;
