import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const User = defineEntity({
  name: 'User',
  properties: {
    id: p.uuid().primary(),
    /** Normalised to lower case by the domain; the unique constraint is the real guard against duplicates. */
    email: p.string().unique().check('email = lower(email)'),
    name: p.string(),
    /** Self-describing KDF output (`scrypt$N$r$p$salt$hash`), never the password. */
    passwordHash: p.text().hidden(),
    /** Access-token scopes: `customer`, plus `staff` for staff accounts. */
    scopes: p.array(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type User = InferEntity<typeof User>;
