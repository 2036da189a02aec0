import type { Envelope, EventData } from '@shopgraph/events';
import { consumerOutcomes, elasticsearchUrl, eventProducer, eventually, testIndexPrefix, testLogger, type EventProducer, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIndex, type ProductIndex } from '../src/clients/product-index.client.ts';
import { catalogFields, type ProductSnapshot } from '../src/domain/product-document.ts';
import { rebuildIndex } from '../src/domain/reindex.service.ts';
import { productData, search, searchIds, searchUntil, startSearch, stockLevel, uniqueWord } from './support.ts';

// `npm run search:reindex`'s rebuild on real Elasticsearch, while the service serves searches and
// its consumer indexes events. The source of truth here is the test's own list of products (the
// e2e test reads catalog and inventory); it changes products through events mid-copy, as owners
// would, after the copy read them: the copy is older than the consumer's writes.

let service: ServiceUnderTest;
let url: string;
let producer: EventProducer;
let index: ProductIndex;
const consumed = consumerOutcomes();

beforeAll(async () => {
  service = await startSearch({ onMessage: consumed.record });
  ({ url } = service);
  producer = eventProducer();
  index = productIndex({ url: elasticsearchUrl(), prefix: testIndexPrefix, searchTimeoutMs: 2_000, indexingTimeoutMs: 10_000, logger: testLogger('reindex') });
});
afterAll(async () => {
  await index?.close();
  await producer?.close();
  await service?.close();
});

/** The products of the source of truth, as their owners have them now. */
const truth = new Map<string, ProductSnapshot>();

/** Changes a product the way its owners do (events through the broker), in the source of truth too; waits until search handled them. */
async function change(productId: string | null, fields: Partial<EventData<'catalog.product.changed'>> & { inStock?: boolean }): Promise<string> {
  const { inStock, ...catalog } = fields;
  const current = productId ? truth.get(productId)! : undefined;
  const data = { ...(current ? productData({ productId: current.id, sku: current.sku, name: current.name, description: current.description, price: current.price, categoryId: current.categoryId }) : productData()), ...catalog };
  const events: Envelope[] = [];
  if (!current || Object.keys(catalog).length) events.push(await producer.publish('catalog.product.changed', data.productId, data));
  const stock = inStock ?? current?.inStock ?? false;
  if (inStock !== undefined) events.push(await producer.publish('inventory.stock.level-changed', data.productId, stockLevel(data.productId, inStock)));
  for (const event of events) await consumed.handled(event);
  truth.set(data.productId, { ...catalogFields(data), inStock: stock });
  return data.productId;
}

const aliasIndices = async (alias: string): Promise<string[]> => {
  const response = await fetch(`${elasticsearchUrl()}/_alias/${alias}`);
  return response.status === 404 ? [] : Object.keys(await response.json());
};
const productIndices = async (): Promise<string[]> =>
  ((await (await fetch(`${elasticsearchUrl()}/_cat/indices/${testIndexPrefix}products-*?format=json`)).json()) as { index: string }[]).map((i) => i.index).sort();

const total = async (query: string, filter?: Record<string, unknown>): Promise<number> => {
  const response = await search(url, { query, first: 0, filter });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data!.searchProducts.total;
};

/** The source of truth page by page, read once the rebuild has begun; `meanwhile` runs before the page it names is handed over. */
function source(meanwhile: Record<number, () => Promise<void>> = {}): () => AsyncIterable<ProductSnapshot[]> {
  return async function* () {
    const snapshot = [...truth.values()];
    for (let page = 0; page * 100 < snapshot.length; page++) {
      await meanwhile[page]?.();
      yield snapshot.slice(page * 100, page * 100 + 100);
    }
  };
}

describe('rebuilding the index', () => {
  const word = uniqueWord();
  const control = uniqueWord();

  it('swaps a new index in with searches served throughout, keeping the changes made meanwhile', async () => {
    // Products to change, then control products nobody changes: every search must count all of
    // those, before, during and after.
    await Promise.all(Array.from({ length: 240 }, (_, i) => change(null, { name: `Lens ${word} ${i}`, inStock: true })));
    await Promise.all(Array.from({ length: 60 }, (_, i) => change(null, { name: `Gauge ${control}`, inStock: i % 2 === 0 })));
    await eventually(async () => (await total(word)) === 240 && (await total(control)) === 60, 'the products indexed');
    const [oldIndex] = await aliasIndices(`${testIndexPrefix}products`);

    const snapshotOrder = [...truth.keys()];
    const copied = snapshotOrder[10]!; // in the first page: copied before it changes
    const pending = snapshotOrder[150]!; // in the second page: changes before its copy
    const flipped = snapshotOrder[220]!; // in the third page: its stock changes before its copy
    const [renamedCopied, renamedPending] = [uniqueWord(), uniqueWord()];
    let created = '';

    let searches = 0;
    const failures: string[] = [];
    let searching = true;
    const searcher = (async () => {
      while (searching) {
        const response = await search(url, { query: control, first: 5 });
        searches++;
        if (response.errors || response.data?.searchProducts.total !== 60) failures.push(JSON.stringify(response.errors ?? response.data));
      }
    })();

    const result = await rebuildIndex({
      index,
      drainMs: 200,
      products: source({
        1: async () => {
          await change(copied, { name: `Lens ${renamedCopied}` });
          await change(pending, { name: `Lens ${renamedPending}` });
          await change(flipped, { inStock: false });
          created = await change(null, { name: `Lens ${word} new`, inStock: true });
        },
      }),
    });
    searching = false;
    await searcher;

    expect(failures).toEqual([]);
    expect(searches).toBeGreaterThan(5);
    expect(result.products).toBe(300);
    expect(result.replaced).toEqual([oldIndex]);
    expect(await aliasIndices(`${testIndexPrefix}products`)).toEqual([result.index]);
    expect(await aliasIndices(`${testIndexPrefix}products-rebuild`)).toEqual([]);
    expect(await productIndices()).toEqual([result.index]);

    // The changes made during the copy, in the new index.
    expect(await searchIds(url, renamedCopied)).toEqual([copied]);
    expect(await searchIds(url, renamedPending, { inStock: true })).toEqual([pending]);
    expect(await searchIds(url, `${word} new`)).toContain(created);
    expect(await total(word)).toBe(239); // 240 - 2 renamed + 1 new
    expect(await total(word, { inStock: false })).toBe(1);
    expect(await searchIds(url, word, { inStock: false })).toEqual([flipped]);
    expect(await total(control, { inStock: true })).toBe(30);

    // And the consumer goes on writing to it.
    const after = await change(null, { name: `Lens ${word} later` });
    await searchUntil(url, `${word} later`, (ids) => ids.includes(after));
  });

  it('leaves the current index serving when a rebuild fails, and clears what a crashed one left behind', async () => {
    const serving = await aliasIndices(`${testIndexPrefix}products`);
    await expect(rebuildIndex({ index, drainMs: 0, products: async function* () {
      yield [...truth.values()].slice(0, 100);
      throw new Error('catalog went away');
    } })).rejects.toThrow('catalog went away');
    expect(await aliasIndices(`${testIndexPrefix}products`)).toEqual(serving);
    expect(await productIndices()).toEqual(serving);
    expect(await total(control)).toBe(60);

    // A rebuild that died without cleaning up (the process killed) leaves its index and alias.
    const crashed = await index.startRebuild();
    expect(await aliasIndices(`${testIndexPrefix}products-rebuild`)).toEqual([crashed.index]);
    const result = await rebuildIndex({ index, drainMs: 0, products: source() });
    expect(await productIndices()).toEqual([result.index]);
    expect(await total(control)).toBe(60);
    expect(await total(word)).toBe([...truth.values()].filter((product) => product.name.includes(word)).length);
  });
});
