import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/** What one publish changed, as `history` shows it. */
export interface VersionSummary {
  subgraphs: { name: string; action: 'PUBLISHED' | 'DELETED'; routingUrl: string | null }[];
  changes: { severity: string; coordinate: string; message: string }[];
  /** Event types whose published contract this version changed. */
  eventContracts: string[];
}

/**
 * One published state of a variant: who published it, when, what changed, and the supergraph it
 * composed to. Versions count 1, 2, 3… per variant; the newest is what routers run.
 */
export const SchemaVersion = defineEntity({
  name: 'SchemaVersion',
  properties: {
    id: p.uuid().primary(),
    variant: p.string(),
    version: p.integer().check('version > 0'),
    /** The registry token that published it, and the name the publisher gave (`--author`), if any. */
    publishedBy: p.string(),
    author: p.string().nullable(),
    publishedAt: p.datetime().onCreate(() => new Date()),
    summary: p.json<VersionSummary>(),
    /** sha256 hex of `supergraphSdl`: the id routers compare. */
    supergraphId: p.string().length(64),
    supergraphSdl: p.text(),
  },
  uniques: [{ name: 'schema_version_variant_version_unique', properties: ['variant', 'version'] }],
});
export type SchemaVersion = InferEntity<typeof SchemaVersion>;
