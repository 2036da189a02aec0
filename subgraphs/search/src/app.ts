import { runService, sleep, type Logger, type MessageOutcome, type Runner, type Service, type ServiceDeps } from '@shopgraph/kit';
import { productIndex, type ProductIndex } from './clients/product-index.client.ts';
import { searchContext } from './context.ts';
import { IndexWriter } from './domain/index-writer.ts';
import { SearchService } from './domain/search.service.ts';
import { entities } from './entities/index.ts';
import { indexHandlers } from './events/index.handler.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import type { Config } from './config.ts';

export interface Deps extends ServiceDeps<Config> {
  /** Sees what became of every message the index consumer took (tests wait on it instead of sleeping). */
  onMessage?: (outcome: MessageOutcome) => void;
}

/**
 * Serves searches from Elasticsearch and keeps its index from catalog's and inventory's events.
 * Elasticsearch is not a readiness check: while it is away searches fail fast (SEARCH_UNAVAILABLE),
 * the consumer holds its events until it is back, and the rest of the graph is unaffected.
 */
export async function createSearchApp({ config, logger, verifier, onMessage }: Deps): Promise<Service> {
  const index = productIndex({
    url: config.ELASTICSEARCH_URL,
    prefix: config.ELASTICSEARCH_INDEX_PREFIX,
    searchTimeoutMs: config.SEARCH_TIMEOUT_MS,
    indexingTimeoutMs: config.INDEXING_TIMEOUT_MS,
    logger,
  });
  const writer = new IndexWriter(index);
  let service: Service;
  try {
    service = await runService({
      name: 'search',
      config,
      logger,
      verifier,
      schema: new URL('../schema.graphql', import.meta.url),
      resolvers,
      entities,
      migrations,
      workers: [() => keepIndex(index, logger)],
      consumers: { index: indexHandlers(writer) },
      onMessage,
      context: searchContext(new SearchService(index)),
    });
  } catch (error) {
    await index.close();
    throw error;
  }
  return { ...service, close: () => service.close().finally(() => index.close()) };
}

/**
 * Creates the index (and its alias) at start if there is none; while Elasticsearch is away, keeps
 * trying in the background instead of failing the start.
 */
async function keepIndex(index: ProductIndex, logger: Logger): Promise<Runner> {
  const stopping = new AbortController();
  const ensured = () =>
    index.ensure().then(
      () => true,
      (error: unknown) => {
        logger.warn({ err: error }, 'the product index cannot be created yet (Elasticsearch unavailable?); retrying');
        return false;
      },
    );
  if (await ensured()) return { stop: async () => {} };
  const retrying = (async () => {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      await sleep(delay, stopping.signal);
      if (stopping.signal.aborted || (await ensured())) return;
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await retrying;
    },
  };
}
