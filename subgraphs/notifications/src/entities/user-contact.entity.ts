import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** Read model of accounts' users (from `account.user.registered`): whom to write to, and how to greet them. */
export const UserContact = defineEntity({
  name: 'UserContact',
  properties: {
    userId: p.uuid().primary(),
    email: p.string(),
    name: p.text(),
  },
  indexes: [{ name: 'user_contact_email_index', properties: ['email'] }],
});
export type UserContact = InferEntity<typeof UserContact>;
