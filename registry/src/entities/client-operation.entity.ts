import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { ClientVersion } from './client-version.entity.ts';

/** An operation a client version sends, from its persisted-query manifest (id = sha256 hex of body). */
export const ClientOperation = defineEntity({
  name: 'ClientOperation',
  properties: {
    clientVersion: () => p.manyToOne(ClientVersion).primary().deleteRule('cascade'),
    documentId: p.string().length(64).primary(),
    operationName: p.string().nullable(),
    operationType: p.string(),
    body: p.text(),
  },
});
export type ClientOperation = InferEntity<typeof ClientOperation>;
