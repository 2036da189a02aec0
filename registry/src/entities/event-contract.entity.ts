import type { JsonSchema } from '@shopgraph/events/compatibility';
import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** An event type's contract as published in a variant: what its consumers were written against. */
export const EventContract = defineEntity({
  name: 'EventContract',
  properties: {
    id: p.uuid().primary(),
    variant: p.string(),
    type: p.string(),
    topic: p.string(),
    dataVersion: p.integer().check('data_version > 0'),
    schema: p.json<JsonSchema>(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  uniques: [{ name: 'event_contract_variant_type_unique', properties: ['variant', 'type'] }],
});
export type EventContract = InferEntity<typeof EventContract>;
