import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * One refresh token of a session. Only the SHA-256 of the opaque token is stored. Tokens of one
 * login share a family: each use rotates to a new token in the family, and reusing a spent one
 * revokes the whole family.
 */
export const RefreshToken = defineEntity({
  name: 'RefreshToken',
  properties: {
    id: p.uuid().primary(),
    user: () => p.manyToOne(User).deleteRule('cascade').index(),
    tokenHash: p.string().length(64).unique(),
    familyId: p.uuid().index(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type RefreshToken = InferEntity<typeof RefreshToken>;
