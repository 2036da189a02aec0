import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const Category = defineEntity({
  name: 'Category',
  properties: {
    id: p.uuid().primary(),
    name: p.string(),
    slug: p.string().unique(),
  },
});
export type Category = InferEntity<typeof Category>;
