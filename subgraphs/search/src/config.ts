import { loadConfig, serviceConfig, z } from '@shopgraph/kit';

/** Where the product index lives and how long to wait for it: the service and `npm run search:reindex` read these alike. */
export const elasticsearchConfig = z.object({
  ELASTICSEARCH_URL: z.url({ protocol: /^https?$/, error: 'an http(s) URL of Elasticsearch 8, credentials in it if any, e.g. https://user:password@es:9200' }).default('http://127.0.0.1:9200'),
  /** Prepended to the index's names (`<prefix>products`…); tests give each file its own. */
  ELASTICSEARCH_INDEX_PREFIX: z.string().regex(/^([a-z0-9][a-z0-9_.-]*)?$/, 'lowercase letters, digits, "_", "." or "-"').default(''),
  /** A search (or suggestion) answers within this or fails with SEARCH_UNAVAILABLE. */
  SEARCH_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(2000),
  /** How long a write (a consumer batch's bulk request, a page of the reindex) may take. */
  INDEXING_TIMEOUT_MS: z.coerce.number().int().positive().max(300_000).default(10_000),
});

export const configSchema = serviceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4008),
  ...elasticsearchConfig.shape,
});
export type Config = z.infer<typeof configSchema>;

export const loadSearchConfig = (env: NodeJS.ProcessEnv = process.env): Config => loadConfig(configSchema, env);

/** `npm run search:reindex`: the index, and the subgraphs that own what goes in it (catalog's products, inventory's stock, reviews' ratings). */
export const reindexConfigSchema = z.object({
  LOG_LEVEL: serviceConfig.shape.LOG_LEVEL,
  ...elasticsearchConfig.shape,
  SUBGRAPH_CATALOG_URL: z.url().default('http://127.0.0.1:4002/graphql'),
  SUBGRAPH_INVENTORY_URL: z.url().default('http://127.0.0.1:4003/graphql'),
  SUBGRAPH_REVIEWS_URL: z.url().default('http://127.0.0.1:4010/graphql'),
  /** For each page read from catalog, inventory or reviews. */
  SOURCE_TIMEOUT_MS: z.coerce.number().int().positive().max(300_000).default(10_000),
  /** How long the old index outlives the swap, so searches already sent to it finish. */
  REINDEX_DRAIN_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
});
export type ReindexConfig = z.infer<typeof reindexConfigSchema>;

export const loadReindexConfig = (env: NodeJS.ProcessEnv = process.env): ReindexConfig => loadConfig(reindexConfigSchema, env);
