import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** One released version of a client (web 1.4, mobile 2.3) and who pushed its operation manifest. */
export const ClientVersion = defineEntity({
  name: 'ClientVersion',
  properties: {
    id: p.uuid().primary(),
    variant: p.string(),
    clientName: p.string(),
    clientVersion: p.string(),
    pushedBy: p.string(),
    pushedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  uniques: [{ name: 'client_version_variant_client_name_client_version_unique', properties: ['variant', 'clientName', 'clientVersion'] }],
});
export type ClientVersion = InferEntity<typeof ClientVersion>;
