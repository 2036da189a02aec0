import { messagingEntities } from '@shopgraph/kit';

/** Search keeps no products in Postgres (Elasticsearch holds its read model): only the kit's outbox and processed-message tables. */
export const entities = [...messagingEntities];
