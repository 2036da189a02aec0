import type { EventData } from '@shopgraph/events';
import { Client } from '@elastic/elasticsearch';
import { consumerOutcomes, elasticsearchUrl, eventProducer, graphql, testLogger, uniqueIndexPrefix, type EventProducer, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIndex } from '../src/clients/product-index.client.ts';
import { productData, search, searchIds, searchUntil, startSearch, stockLevel, SUGGEST, uniqueWord, type SearchResult } from './support.ts';

// Search on real Elasticsearch, fed by catalog's and inventory's events through the real broker.

let service: ServiceUnderTest;
let url: string;
let producer: EventProducer;
const consumed = consumerOutcomes();

beforeAll(async () => {
  service = await startSearch({ onMessage: consumed.record });
  ({ url } = service);
  producer = eventProducer();
});
afterAll(async () => {
  await producer?.close();
  await service?.close();
});

const changed = (data: EventData<'catalog.product.changed'>) => producer.publish('catalog.product.changed', data.productId, data);
const stock = (productId: string, inStock: boolean) => producer.publish('inventory.stock.level-changed', productId, stockLevel(productId, inStock));

/** Publishes products (catalog's fields, and a stock level when `inStock` is given) and waits until every event was processed. */
async function indexed(...products: (Partial<EventData<'catalog.product.changed'>> & { inStock?: boolean })[]): Promise<string[]> {
  const events = [];
  for (const { inStock, ...fields } of products) {
    const data = productData(fields);
    events.push(await changed(data));
    if (inStock !== undefined) events.push(await stock(data.productId, inStock));
  }
  for (const event of events) expect((await consumed.handled(event)).map((o) => o.result)).toEqual(['processed']);
  return events.filter((event) => event.type === 'catalog.product.changed').map((event) => event.subject);
}

async function result(variables: Record<string, unknown>): Promise<SearchResult> {
  const response = await search(url, variables);
  expect(response.errors).toBeUndefined();
  return response.data!.searchProducts;
}

const same = (ids: string[], expected: string[]) => ids.length === expected.length && expected.every((id) => ids.includes(id));

describe('indexing from events', () => {
  it('finds a product created, renamed, repriced and going out of stock as it now is', async () => {
    const [before, after] = [uniqueWord(), uniqueWord()];
    const product = productData({ name: `Kettle ${before}`, price: { amount: 3_999, currency: 'USD' } });
    await changed(product);
    await stock(product.productId, true);
    await searchUntil(url, before, (ids) => same(ids, [product.productId]), { inStock: true }, 'the new product');

    await changed({ ...product, name: `Teapot ${after}` });
    await searchUntil(url, after, (ids) => same(ids, [product.productId]), undefined, 'the new name');
    expect(await searchIds(url, before)).toEqual([]);

    await changed({ ...product, name: `Teapot ${after}`, price: { amount: 1_999, currency: 'USD' } });
    await searchUntil(url, after, (ids) => same(ids, [product.productId]), { maxPrice: 2_000 }, 'the new price');
    expect(await searchIds(url, after, { minPrice: 3_000 })).toEqual([]);

    await stock(product.productId, false);
    await searchUntil(url, after, (ids) => same(ids, [product.productId]), { inStock: false }, 'out of stock');
    expect(await searchIds(url, after, { inStock: true })).toEqual([]);
    // Still the repriced, renamed product: the stock level changed its flag only.
    expect(await searchIds(url, after, { maxPrice: 2_000 })).toEqual([product.productId]);
  });

  it('merges a stock level that comes before the product with the product, and keeps it through later changes', async () => {
    const word = uniqueWord();
    const product = productData({ name: `Lamp ${word}` });
    expect((await consumed.handled(await stock(product.productId, true))).map((o) => o.result)).toEqual(['processed']);
    // The flag alone matches no search.
    expect(await searchIds(url, word)).toEqual([]);

    await changed(product);
    await searchUntil(url, word, (ids) => same(ids, [product.productId]), { inStock: true }, 'the product with its stock flag');
    await changed({ ...product, description: 'brass' });
    await searchUntil(url, `${word} brass`, (ids) => same(ids, [product.productId]), { inStock: true }, 'the new description, still in stock');
  });

  it('applies a batch of changes to one product in order', async () => {
    const words = Array.from({ length: 5 }, () => uniqueWord());
    const product = productData();
    const events = [];
    for (const word of words) events.push(await changed({ ...product, name: `Mug ${word}` }));
    for (const event of events) await consumed.handled(event);
    await searchUntil(url, words.at(-1)!, (ids) => same(ids, [product.productId]));
    for (const word of words.slice(0, -1)) expect(await searchIds(url, word)).toEqual([]);
  });
});

describe('ratings from reviews', () => {
  const rated = (productId: string, average: number | null, count: number) => producer.publish('reviews.product.rated', productId, { productId, average, count });

  it('filters by and sorts on the latest rating, merged into the product whichever comes first', async () => {
    const word = uniqueWord();
    const [good, best, unrated] = await indexed({ name: `Good ${word}` }, { name: `Best ${word}` }, { name: `Plain ${word}` });
    // A rating before its product: merged once catalog's fields arrive.
    const late = productData({ name: `Late ${word}` });
    await rated(late.productId, 4.2, 5);
    await rated(good!, 5, 1);
    await rated(good!, 3.5, 2);
    await rated(best!, 4.75, 4);
    await changed(late);
    await searchUntil(url, word, (ids) => same(ids, [best!, late.productId]), { minRating: 4 }, 'the rated products');
    expect(await searchIds(url, word, { minRating: 3.5 })).toHaveLength(3);
    expect(await searchIds(url, word, { minRating: 4.8 })).toEqual([]);

    // By rating, highest first, unrated last, two to a page.
    const pages: string[][] = [];
    let after: string | null = null;
    do {
      const page: SearchResult = await result({ query: word, first: 2, after, sort: 'RATING' });
      expect(page.total).toBe(4);
      pages.push(page.edges.map((edge) => edge.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(pages).toEqual([[best, late.productId], [good, unrated]]);

    // The last review hidden: no average any more, so no rating filter matches it.
    await rated(best!, null, 0);
    await searchUntil(url, word, (ids) => same(ids, [late.productId]), { minRating: 4 }, 'the rating gone');
    expect(await searchIds(url, word, { inStock: false })).toHaveLength(4);
  });

  it('gives an index made before ratings the field when the service starts on it (the mapping is strict)', async () => {
    const prefix = uniqueIndexPrefix();
    const client = new Client({ node: elasticsearchUrl() });
    const index = productIndex({ url: elasticsearchUrl(), prefix, searchTimeoutMs: 2_000, indexingTimeoutMs: 10_000, logger: testLogger('search') });
    const old = `${prefix}products-old`;
    const id = crypto.randomUUID();
    const change = { id, fields: { id, rating: { average: 4, count: 1 } } };
    try {
      // The index as search made it before ratings.
      await client.indices.create({
        index: old,
        settings: { number_of_shards: 1, auto_expand_replicas: '0-1', analysis: { normalizer: { sku: { type: 'custom', filter: ['lowercase'] } } } },
        mappings: {
          dynamic: 'strict',
          properties: {
            id: { type: 'keyword' }, sku: { type: 'keyword', normalizer: 'sku' }, name: { type: 'text' }, description: { type: 'text' }, categoryId: { type: 'keyword' },
            price: { properties: { amount: { type: 'long' }, currency: { type: 'keyword' } } }, inStock: { type: 'boolean' }, suggest: { type: 'completion' },
          },
        },
        aliases: { [`${prefix}products`]: { is_write_index: true } },
      });
      await expect(index.write([change])).rejects.toThrow(/strict_dynamic_mapping_exception/);
      await index.ensure();
      await index.write([change]);
      expect((await client.get({ index: old, id }))._source).toEqual({ id, rating: { average: 4, count: 1 } });
    } finally {
      await client.indices.delete({ index: old, ignore_unavailable: true });
      await index.close();
      await client.close();
    }
  });

  it('refuses a minimum rating outside 1–5 as BAD_USER_INPUT', async () => {
    const response = await search(url, { query: 'kettle', filter: { minRating: 6 } });
    expect(response.errors?.map((e) => [e.extensions?.code, e.extensions?.reason])).toEqual([['BAD_USER_INPUT', 'INVALID_RATING_FILTER']]);
  });
});

describe('searchProducts', () => {
  it('tolerates typos', async () => {
    const [shoes] = await indexed({ name: 'Running shoes', description: 'Light trail runners' }, { name: 'Rain jacket' });
    await searchUntil(url, 'runnnig shoes', (ids) => ids.includes(shoes!));
    expect(await searchIds(url, 'runing shoe')).toContain(shoes);
    expect(await searchIds(url, 'running shoes')).not.toEqual([]);
  });

  it('weighs the name above the description', async () => {
    const word = uniqueWord();
    const [inDescription, inName] = await indexed({ name: 'Steel mug', description: word }, { name: `Copper ${word}`, description: 'a cup' });
    await searchUntil(url, word, (ids) => ids.length === 2);
    expect(await searchIds(url, word)).toEqual([inName, inDescription]);
  });

  it('finds a product by its exact SKU first', async () => {
    const word = uniqueWord();
    const sku = `SKU-${word.toUpperCase()}`;
    const [bySku] = await indexed({ name: 'Whisk', sku }, { name: `Whisk ${sku}` });
    await searchUntil(url, sku, (ids) => ids.length === 2);
    expect((await searchIds(url, sku.toLowerCase()))[0]).toBe(bySku);
  });

  it('filters by category, price and stock, together', async () => {
    const word = uniqueWord();
    const [tools, garden] = [crypto.randomUUID(), crypto.randomUUID()];
    const ids = await indexed(
      { name: `Hammer ${word}`, categoryId: tools, price: { amount: 1_500, currency: 'USD' }, inStock: true },
      { name: `Saw ${word}`, categoryId: tools, price: { amount: 4_500, currency: 'USD' }, inStock: false },
      { name: `Rake ${word}`, categoryId: garden, price: { amount: 2_500, currency: 'USD' }, inStock: true },
      { name: `Hose ${word}`, price: { amount: 900, currency: 'USD' } },
    );
    const [hammer, saw, rake, hose] = ids;
    await searchUntil(url, word, (found) => found.length === 4);
    const filtered = async (filter: Record<string, unknown>) => (await searchIds(url, word, filter)).sort();
    expect(await filtered({ categoryId: tools })).toEqual([hammer, saw].sort());
    expect(await filtered({ categoryId: tools.toUpperCase() })).toEqual([hammer, saw].sort());
    expect(await filtered({ minPrice: 1_500, maxPrice: 2_500 })).toEqual([hammer, rake].sort());
    expect(await filtered({ minPrice: 2_501 })).toEqual([saw]);
    expect(await filtered({ maxPrice: 900 })).toEqual([hose]);
    expect(await filtered({ inStock: true })).toEqual([hammer, rake].sort());
    // Never stocked counts as out of stock, as inventory says.
    expect(await filtered({ inStock: false })).toEqual([saw, hose].sort());
    expect(await filtered({ categoryId: tools, inStock: true, maxPrice: 2_000 })).toEqual([hammer]);
    // A category catalog does not know matches nothing.
    expect(await filtered({ categoryId: crypto.randomUUID() })).toEqual([]);
  });

  it('counts facets by category and price band, each as if its own filter were not set', async () => {
    const word = uniqueWord();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    const price = (amount: number) => ({ amount, currency: 'USD' });
    await indexed(
      { name: `Cup ${word}`, categoryId: a, price: price(500) },
      { name: `Bowl ${word}`, categoryId: a, price: price(1_500) },
      { name: `Plate ${word}`, categoryId: a, price: price(3_000) },
      { name: `Pan ${word}`, categoryId: b, price: price(1_500) },
      { name: `Oven ${word}`, categoryId: b, price: price(60_000) },
      { name: `Range ${word}`, price: price(200_000) },
    );
    await searchUntil(url, word, (ids) => ids.length === 6);

    const all = await result({ query: word });
    expect(all.total).toBe(6);
    expect(all.facets.categories).toEqual([{ category: { id: a }, count: 3 }, { category: { id: b }, count: 2 }]);
    expect(all.facets.priceRanges).toEqual([
      { min: 0, max: 999, count: 1 },
      { min: 1_000, max: 2_499, count: 2 },
      { min: 2_500, max: 4_999, count: 1 },
      { min: 50_000, max: 99_999, count: 1 },
      { min: 100_000, max: null, count: 1 },
    ]);

    const inA = await result({ query: word, filter: { categoryId: a } });
    expect(inA.total).toBe(3);
    expect(inA.facets.categories).toEqual(all.facets.categories);
    expect(inA.facets.priceRanges).toEqual([{ min: 0, max: 999, count: 1 }, { min: 1_000, max: 2_499, count: 1 }, { min: 2_500, max: 4_999, count: 1 }]);

    const band = await result({ query: word, filter: { minPrice: 1_000, maxPrice: 4_999 } });
    expect(band.total).toBe(3);
    expect(band.facets.categories).toEqual([{ category: { id: a }, count: 2 }, { category: { id: b }, count: 1 }]);
    expect(band.facets.priceRanges).toEqual(all.facets.priceRanges);
  });

  it('pages through every match once, in a stable order, with the total on every page', async () => {
    const word = uniqueWord();
    // Three kinds of match, so scores differ, and ties within each kind (broken by id).
    const created = await indexed(...Array.from({ length: 45 }, (_, i) => (i % 3 === 0 ? { name: `Widget ${word}` } : i % 3 === 1 ? { name: 'Widget', description: word } : { name: `Big widget ${word} ${word}` })));
    await searchUntil(url, word, (ids) => ids.length === 45);

    const pages: SearchResult[] = [];
    for (let after: string | null = null; pages.length === 0 || pages.at(-1)!.pageInfo.hasNextPage; after = pages.at(-1)!.pageInfo.endCursor) {
      pages.push(await result({ query: word, first: 20, after }));
      expect(pages.length).toBeLessThanOrEqual(3);
    }
    expect(pages.map((page) => page.edges.length)).toEqual([20, 20, 5]);
    expect(pages.map((page) => page.total)).toEqual([45, 45, 45]);
    const paged = pages.flatMap((page) => page.edges.map((edge) => edge.node.id));
    expect(new Set(paged).size).toBe(45);
    expect([...paged].sort()).toEqual([...created].sort());
    // The same order as one big page, and the same again.
    expect(paged).toEqual(await searchIds(url, word));
    expect((await result({ query: word, first: 20, after: pages[0]!.pageInfo.endCursor })).edges).toEqual(pages[1]!.edges);
  });

  it('matches text that looks like Elasticsearch syntax literally, without errors', async () => {
    const word = uniqueWord();
    const [cable] = await indexed({ name: `Cable {braided} ${word}`, description: 'name:* OR _exists_:x' });
    await searchUntil(url, word, (ids) => same(ids, [cable!]));
    for (const query of ['name:* OR _exists_:x', '\\"', '{', '}', '"', '*', '?', '[1 TO 5]', 'a AND (b OR', '/.*/', '~', '\\', '<script>', 'NOT', '!', 'name:kettle^100', '{"match_all":{}}']) {
      const response = await search(url, { query });
      expect(response.errors, query).toBeUndefined();
      expect(typeof response.data!.searchProducts.total, query).toBe('number');
    }
    expect(await searchIds(url, `{braided} ${word}`)).toEqual([cable]);
    expect(await searchIds(url, `name:* OR _exists_:x ${word}`)).toEqual([cable]);
    // `*` is not a wildcard: nothing matches every product.
    expect((await result({ query: '*' })).total).toBe(0);
  });

  it('answers a page size of 0 with the total and facets only', async () => {
    const word = uniqueWord();
    await indexed({ name: `Fork ${word}` }, { name: `Knife ${word}` });
    await searchUntil(url, word, (ids) => ids.length === 2);
    const counted = await result({ query: word, first: 0 });
    expect(counted).toMatchObject({ total: 2, edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
  });
});

describe('searchSuggestions', () => {
  it('completes names from the start of any of their words, forgiving a typo, and answers a blank prefix with none', async () => {
    const word = uniqueWord();
    const name = `Espresso ${word} grinder`;
    await indexed({ name }, { name: `Espresso ${word} grinder` }, { name: `Tea ${word}` });
    await searchUntil(url, word, (ids) => ids.length === 3);
    const suggest = async (prefix: string, first?: number) => {
      const response = await graphql(url, SUGGEST, { prefix, first });
      expect(response.errors).toBeUndefined();
      return response.data!['searchSuggestions'] as string[];
    };
    // Two products share the name: suggested once.
    expect(await suggest(`espresso ${word.slice(0, 5)}`)).toEqual([name]);
    expect(await suggest(word.slice(0, 6))).toEqual(expect.arrayContaining([name, `Tea ${word}`]));
    expect(await suggest(`${word} gri`)).toEqual([name]);
    expect(await suggest(`${word.slice(0, 4)}${word.slice(5, 8)}`)).toEqual(expect.arrayContaining([name]));
    expect(await suggest(word.slice(0, 6), 1)).toHaveLength(1);
    expect(await suggest('   ')).toEqual([]);
    expect(await suggest(word, 0)).toEqual([]);
  });
});

describe('bad input', () => {
  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  it.each([
    ['an empty query', { query: '' }, 'INVALID_QUERY', ['query']],
    ['a blank query', { query: ' \t\n ' }, 'INVALID_QUERY', ['query']],
    ['a query over 200 characters', { query: 'a'.repeat(201) }, 'INVALID_QUERY', ['query']],
    ['a 10,000-character query', { query: 'kettle '.repeat(1_430) }, 'INVALID_QUERY', ['query']],
    ['first above 100', { query: 'kettle', first: 101 }, 'INVALID_PAGE_SIZE', ['first']],
    ['a negative first', { query: 'kettle', first: -1 }, 'INVALID_PAGE_SIZE', ['first']],
    ['a malformed cursor', { query: 'kettle', after: 'not a cursor' }, 'INVALID_CURSOR', ['after']],
    ['a cursor of another shape', { query: 'kettle', after: cursor([1, 'not-a-uuid']) }, 'INVALID_CURSOR', ['after']],
    ['a cursor that is not JSON', { query: 'kettle', after: Buffer.from('{[').toString('base64url') }, 'INVALID_CURSOR', ['after']],
    ['a negative minPrice', { query: 'kettle', filter: { minPrice: -1 } }, 'INVALID_PRICE_RANGE', ['filter', 'minPrice']],
    ['a negative maxPrice', { query: 'kettle', filter: { maxPrice: -100 } }, 'INVALID_PRICE_RANGE', ['filter', 'maxPrice']],
    ['an inverted price range', { query: 'kettle', filter: { minPrice: 5_000, maxPrice: 1_000 } }, 'INVALID_PRICE_RANGE', ['filter', 'minPrice']],
    ['a malformed category id', { query: 'kettle', filter: { categoryId: 'tools' } }, 'INVALID_CATEGORY_ID', ['filter', 'categoryId']],
  ])('refuses %s with BAD_USER_INPUT', async (_name, variables, reason, field) => {
    const response = await search(url, variables);
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason, field });
    expect(response.errors![0]!.message).not.toMatch(/elastic|exception|index/i);
  });

  it.each([
    ['a prefix over 100 characters', { prefix: 'a'.repeat(101) }, 'INVALID_PREFIX'],
    ['first above 20', { prefix: 'ke', first: 21 }, 'INVALID_PAGE_SIZE'],
    ['a negative first', { prefix: 'ke', first: -1 }, 'INVALID_PAGE_SIZE'],
  ])('refuses suggestions for %s with BAD_USER_INPUT', async (_name, variables, reason) => {
    const response = await graphql(url, SUGGEST, variables);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason });
  });
});

describe('the service', () => {
  it('keeps no tables but the kit\'s messaging ones, as its migrations build them', async () => {
    expect((await service.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
    const tables = await service.sql<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'public' and table_name not like 'mikro_orm%' order by table_name`);
    expect(tables.map((t) => t.table_name)).toEqual(['outbox_message', 'processed_message']);
  });

  it('is ready when its database answers', async () => {
    const response = await fetch(`${service.base}/readyz`);
    expect(response.status).toBe(200);
  });
});
