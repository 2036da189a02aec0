import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** A subgraph as currently published in a variant: its SDL and where routers reach it. */
export const PublishedSubgraph = defineEntity({
  name: 'PublishedSubgraph',
  properties: {
    id: p.uuid().primary(),
    variant: p.string(),
    name: p.string(),
    routingUrl: p.text(),
    sdl: p.text(),
    /** The version that last changed it. */
    version: p.integer(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  uniques: [{ name: 'published_subgraph_variant_name_unique', properties: ['variant', 'name'] }],
});
export type PublishedSubgraph = InferEntity<typeof PublishedSubgraph>;
