import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** One per customer, created by the first add; its id is derived from the owner's (see `cartIdFor`). */
export const Cart = defineEntity({
  name: 'Cart',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid().unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type Cart = InferEntity<typeof Cart>;
