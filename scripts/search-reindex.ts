// Rebuilds the search index from the source of truth (catalog's products, inventory's stock, reviews' ratings) into
// a new index and swaps searches over to it; searches are served throughout, and changes made
// meanwhile are kept (see subgraphs/search/src/clients/product-index.client.ts).
// Usage: npm run search:reindex
// Env: ELASTICSEARCH_URL, ELASTICSEARCH_INDEX_PREFIX, SUBGRAPH_CATALOG_URL, SUBGRAPH_INVENTORY_URL, SUBGRAPH_REVIEWS_URL
// (defaults: npm start's), and more in subgraphs/search/src/config.ts (reindexConfigSchema).
import { createLogger } from '@shopgraph/kit';
import { productIndex } from '../subgraphs/search/src/clients/product-index.client.ts';
import { productSource } from '../subgraphs/search/src/clients/product-source.client.ts';
import { loadReindexConfig } from '../subgraphs/search/src/config.ts';
import { rebuildIndex } from '../subgraphs/search/src/domain/reindex.service.ts';

const config = loadReindexConfig();
const logger = createLogger('search-reindex', config.LOG_LEVEL);
const index = productIndex({
  url: config.ELASTICSEARCH_URL,
  prefix: config.ELASTICSEARCH_INDEX_PREFIX,
  searchTimeoutMs: config.INDEXING_TIMEOUT_MS,
  indexingTimeoutMs: config.INDEXING_TIMEOUT_MS,
  logger,
});
const source = productSource({ urls: { catalog: config.SUBGRAPH_CATALOG_URL, inventory: config.SUBGRAPH_INVENTORY_URL, reviews: config.SUBGRAPH_REVIEWS_URL }, timeoutMs: config.SOURCE_TIMEOUT_MS, logger });
const started = performance.now();
try {
  const result = await rebuildIndex({
    index,
    products: () => source.products(),
    drainMs: config.REINDEX_DRAIN_MS,
    onProgress: (copied) => copied % 10_000 === 0 && console.log(`copied ${copied} products…`),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`reindexed ${result.products} products into ${result.index} in ${seconds} s${result.replaced.length ? `; dropped ${result.replaced.join(', ')}` : ''}`);
} catch (error) {
  console.error(`search:reindex failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await index.close();
}
