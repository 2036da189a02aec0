import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * Requests that selected a schema coordinate (`Type.field`), per client version and UTC day, as
 * routers reported them: a report adds to its day's counts.
 */
export const FieldUsage = defineEntity({
  name: 'FieldUsage',
  properties: {
    variant: p.string().primary(),
    coordinate: p.string().primary(),
    clientName: p.string().primary(),
    clientVersion: p.string().primary(),
    day: p.string().columnType('date').primary(),
    requests: p.bigint('number').check('requests >= 0'),
    errors: p.bigint('number').check('errors >= 0'),
  },
  indexes: [{ name: 'field_usage_variant_day_index', properties: ['variant', 'day'] }],
});
export type FieldUsage = InferEntity<typeof FieldUsage>;
