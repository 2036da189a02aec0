import { Client, errors, type estypes } from '@elastic/elasticsearch';
import { DependencyUnavailable, type Logger } from '@shopgraph/kit';
import { randomBytes } from 'node:crypto';
import type { DocumentSink } from '../domain/index-writer.ts';
import type { ProductDocument, ProductSnapshot } from '../domain/product-document.ts';
import type { RebuildableIndex } from '../domain/reindex.service.ts';
import { SearchUnavailable, type ProductSearchBackend, type ResultSource } from '../domain/search.service.ts';

// The product index on Elasticsearch, and how it is rebuilt while it serves.
//
// Names (after ELASTICSEARCH_INDEX_PREFIX):
//   products-<time>-<random>  the indices; one serves at a time, a second exists during a rebuild.
//   products                  the alias every search reads and the consumer writes; one index.
//   products-rebuild          the alias of the index a rebuild fills; absent otherwise.
//
// A rebuild (`npm run search:reindex`) creates a new index, points `products-rebuild` at it, fills
// it from the source of truth (catalog's products, inventory's stock), then swaps `products` over
// to it in one `_aliases` call, and drops the old index once searches sent to it have finished.
// Searches read `products` throughout, so they are served by one whole index or the other. One
// rebuild at a time: starting one drops the index of a rebuild that did not finish.
//
// Changes made while it runs are not lost. The consumer writes every change to `products-rebuild`
// (when it exists; `require_alias` keeps a missing alias from creating an index) and to `products`,
// in that order in one bulk request. A change handled before `products-rebuild` existed was
// committed by its owner before the rebuild began reading, so the copy has it; one handled after
// goes to the new index too, and is newer than what the copy may have read of those fields. So
// the copy only creates documents and adds the field groups (catalog's, inventory's) a document
// still lacks, never overwriting what the consumer wrote (compare-and-set on `_seq_no`). The
// consumer keeps applying later events in order, so the new index converges like the old one.
//
// No scripts (the integ-test distribution has no lang-painless) and no `_reindex` (no reindex
// module): partial updates with `doc_as_upsert` merge each owner's fields into the document.

export interface ProductIndexOptions {
  url: string;
  /** ELASTICSEARCH_INDEX_PREFIX. */
  prefix: string;
  /** For searches and suggestions: fail fast. */
  searchTimeoutMs: number;
  /** For writes (bulk requests) and index administration. */
  indexingTimeoutMs: number;
  logger: Logger;
}

export interface ProductIndex extends ProductSearchBackend, DocumentSink, RebuildableIndex {
  /** Creates the index and its alias when there is none; safe to call from every replica at once. */
  ensure(): Promise<void>;
  close(): Promise<void>;
}

const MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    sku: { type: 'keyword', normalizer: 'sku' },
    // The standard analyzer: the distribution has no language analyzers (no analysis-common).
    name: { type: 'text' },
    description: { type: 'text' },
    categoryId: { type: 'keyword' },
    price: { properties: { amount: { type: 'long' }, currency: { type: 'keyword' } } },
    inStock: { type: 'boolean' },
    rating: { properties: { average: { type: 'double' }, count: { type: 'integer' } } },
    suggest: { type: 'completion' },
  },
};

const REFRESH_INTERVAL = '500ms';

const SETTINGS: estypes.IndicesIndexSettings = {
  number_of_shards: 1,
  // A replica wherever there is a second node to hold it (a single dev node stays green).
  auto_expand_replicas: '0-1',
  // A change is searchable after the next refresh: half a second leaves the rest of the 1 s budget
  // (event → searchable) to the outbox relay, Kafka and the consumer. Set, not left to the default
  // (1 s), which also stops refreshing an index nobody searched for 30 s.
  refresh_interval: REFRESH_INTERVAL,
  analysis: { normalizer: { sku: { type: 'custom', filter: ['lowercase'] } } },
};

/** The index's names under `prefix`. */
export function indexNames(prefix: string) {
  return {
    alias: `${prefix}products`,
    rebuildAlias: `${prefix}products-rebuild`,
    newIndex: () => `${prefix}products-${Date.now()}-${randomBytes(3).toString('hex')}`,
  };
}

/** Whether an Elasticsearch client error means "not reachable now" rather than a bad request. */
function isOutage(error: unknown): boolean {
  if (error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError || error instanceof errors.RequestAbortedError) return true;
  if (error instanceof errors.ResponseError) return transientStatus(error.statusCode ?? 0) || indexMissing(error.body);
  return false;
}

/** Busy, overloaded, failing or contended: worth waiting for. */
const transientStatus = (status: number): boolean => status === 409 || status === 429 || status >= 500;
const indexMissing = (body: unknown): boolean => (body as { error?: { type?: string } } | undefined)?.error?.type === 'index_not_found_exception';

export function productIndex(options: ProductIndexOptions): ProductIndex {
  const { alias, rebuildAlias, newIndex } = indexNames(options.prefix);
  const log = options.logger.child({ component: 'product-index' });
  // Retries are the callers' (the consumer's backoff; a search fails fast instead).
  const client = new Client({ node: options.url, requestTimeout: options.indexingTimeoutMs, maxRetries: 0 });
  const admin = { requestTimeout: options.indexingTimeoutMs, maxRetries: 0 };

  const unavailable = (error: unknown): never => {
    if (isOutage(error)) throw new DependencyUnavailable('Elasticsearch', { cause: error });
    throw error;
  };

  const indicesOf = async (name: string): Promise<string[]> => {
    try {
      return Object.keys(await client.indices.getAlias({ name }, admin));
    } catch (error) {
      if (error instanceof errors.ResponseError && error.statusCode === 404) return [];
      throw error;
    }
  };

  const bulk = async (operations: estypes.BulkRequest['operations']): Promise<estypes.BulkResponseItem[]> => {
    const response = await client.bulk({ operations }, admin).catch(unavailable);
    return response.items.map((item) => Object.values(item)[0]!);
  };

  const ensure = async (): Promise<void> => {
    if (await client.indices.existsAlias({ name: alias }, admin)) {
      // An index made before a field was added (the mapping is strict) gets it now: mappings only grow.
      await client.indices.putMapping({ index: alias, properties: MAPPINGS.properties }, admin);
      return;
    }
    const index = newIndex();
    try {
      await client.indices.create({ index, settings: SETTINGS, mappings: MAPPINGS, aliases: { [alias]: { is_write_index: true } } }, admin);
      log.info({ index, alias }, 'created the product index');
    } catch (error) {
      // Another replica won the race: an alias has one write index, so its creation refused ours.
      if (!(await client.indices.existsAlias({ name: alias }, admin))) throw error;
    }
  };

  /** Adds to documents that exist only the field groups they lack, compare-and-set on their sequence numbers. */
  const fillMissing = async (index: string, products: readonly ProductSnapshot[]): Promise<void> => {
    let pending = [...products];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 10) throw new Error(`rebuild: ${pending.length} documents kept changing under the copy`);
      const { docs } = await client.mget<Partial<ProductDocument>>({ index, ids: pending.map((p) => p.id), _source_includes: ['name', 'inStock', 'rating'] }, admin);
      const operations: estypes.BulkRequest['operations'] = [];
      const sent: ProductSnapshot[] = [];
      docs.forEach((doc, i) => {
        const product = pending[i]!;
        if (!('found' in doc) || !doc.found) {
          operations.push({ create: { _index: index, _id: product.id } }, product);
        } else {
          const { inStock, rating, ...catalog } = product;
          const lacking = {
            ...(doc._source?.name === undefined ? catalog : {}),
            ...(doc._source?.inStock === undefined ? { inStock } : {}),
            ...(doc._source?.rating === undefined && rating ? { rating } : {}),
          };
          if (Object.keys(lacking).length === 0) return;
          operations.push({ update: { _index: index, _id: product.id, if_seq_no: doc._seq_no!, if_primary_term: doc._primary_term! } }, { doc: { id: product.id, ...lacking } });
        }
        sent.push(product);
      });
      if (operations.length === 0) return;
      const results = await bulk(operations);
      pending = sent.filter((_, i) => results[i]!.status === 409);
      const failed = results.find((r) => r.error && r.status !== 409);
      if (failed) throw new Error(`rebuild: writing ${failed._id} failed: ${failed.error!.type}: ${failed.error!.reason ?? ''}`);
    }
  };

  return {
    async search(request) {
      try {
        // The signal as well: the client's own timeout runs on a coarse clock (300 ms became 1 s).
        const timeout = { requestTimeout: options.searchTimeoutMs, signal: AbortSignal.timeout(options.searchTimeoutMs), maxRetries: 0 };
        return await client.search<ResultSource>({ ...request, index: alias }, timeout);
      } catch (error) {
        if (!isOutage(error)) throw error;
        log.warn({ err: error }, 'search failed: Elasticsearch is unavailable');
        throw new SearchUnavailable({ cause: error });
      }
    },

    ensure,

    async write(changes) {
      if (changes.length === 0) return;
      // The rebuild's alias first: a swap between the two writes must find the change in the new index.
      const targets = changes.flatMap((change) => [{ change, alias: rebuildAlias }, { change, alias }]);
      const operations = targets.flatMap(({ change, alias: target }) => [
        { update: { _index: target, _id: change.id, retry_on_conflict: 5 } },
        { doc: change.fields, doc_as_upsert: true },
      ]);
      const response = await client.bulk({ operations, require_alias: true }, admin).catch(unavailable);
      if (!response.errors) return;
      let transient: estypes.BulkResponseItem | undefined;
      let missing = false;
      for (const [i, item] of response.items.entries()) {
        const result = Object.values(item)[0]!;
        if (!result.error) continue;
        // No rebuild running.
        if (targets[i]!.alias === rebuildAlias && result.status === 404) continue;
        if (result.status === 404 || transientStatus(result.status)) {
          missing ||= result.status === 404;
          transient ??= result;
          continue;
        }
        // No retry can fix it (e.g. a field the mapping refuses): the consumer retries, then dead-letters.
        throw new Error(`indexing product ${result._id} failed: ${result.error.type}: ${result.error.reason ?? ''}`);
      }
      if (missing) {
        // Not created yet (Elasticsearch was away at start), or deleted: the retry writes to a new one.
        log.warn({ alias }, 'no product index to write to: creating one (if it was deleted, run `npm run search:reindex`)');
        await ensure().catch((error: unknown) => log.warn({ err: error }, 'creating the product index failed'));
      }
      if (transient) throw new DependencyUnavailable(`the product index (${transient.status} ${transient.error?.type ?? ''})`);
    },

    async startRebuild() {
      await ensure();
      const stale = await indicesOf(rebuildAlias);
      if (stale.length) {
        // A rebuild that died half-way; the consumer has been writing to it since, for nothing.
        log.warn({ indices: stale }, 'dropping the index of an unfinished rebuild');
        await client.indices.delete({ index: stale, ignore_unavailable: true }, admin);
      }
      const index = newIndex();
      // Not refreshed while it fills (nobody searches it yet): bulk writes go faster.
      await client.indices.create({ index, settings: { ...SETTINGS, refresh_interval: '-1' }, mappings: MAPPINGS, aliases: { [rebuildAlias]: {} } }, admin);
      return {
        index,
        async fill(products) {
          if (products.length === 0) return;
          const results = await bulk(products.flatMap((product) => [{ create: { _index: index, _id: product.id } }, product]));
          const failed = results.find((r) => r.error && r.status !== 409);
          if (failed) throw new Error(`rebuild: writing ${failed._id} failed: ${failed.error!.type}: ${failed.error!.reason ?? ''}`);
          // 409: the consumer wrote the document first.
          await fillMissing(index, products.filter((_, i) => results[i]!.status === 409));
        },
        async swap() {
          await client.indices.putSettings({ index, settings: { refresh_interval: REFRESH_INTERVAL } }, admin);
          await client.indices.refresh({ index }, admin);
          const old = await indicesOf(alias);
          // One call: every search sees the old index or the new one. A remove that finds its alias
          // gone (another rebuild swapped meanwhile) fails the whole call.
          await client.indices.updateAliases({
            actions: [
              ...old.map((o) => ({ remove: { index: o, alias, must_exist: true } })),
              { add: { index, alias, is_write_index: true } },
              { remove: { index, alias: rebuildAlias, must_exist: true } },
            ],
          }, admin);
          log.info({ index, replaced: old }, 'the rebuilt index serves searches');
          return old;
        },
        async abandon() {
          await client.indices.delete({ index, ignore_unavailable: true }, admin);
        },
      };
    },

    async drop(indices) {
      if (indices.length) await client.indices.delete({ index: [...indices], ignore_unavailable: true }, admin);
    },

    close: () => client.close(),
  };
}
