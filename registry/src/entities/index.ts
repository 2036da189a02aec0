import { ClientOperation } from './client-operation.entity.ts';
import { ClientVersion } from './client-version.entity.ts';
import { EventContract } from './event-contract.entity.ts';
import { FieldUsage } from './field-usage.entity.ts';
import { PublishedSubgraph } from './published-subgraph.entity.ts';
import { SchemaVersion } from './schema-version.entity.ts';

export { ClientOperation, ClientVersion, EventContract, FieldUsage, PublishedSubgraph, SchemaVersion };
export type { VersionSummary } from './schema-version.entity.ts';
/** The registry's tables (no outbox: it publishes no events). */
export const entities = [SchemaVersion, PublishedSubgraph, EventContract, ClientVersion, ClientOperation, FieldUsage];
