import type { EventData } from '@shopgraph/events';
import { consumerOutcomes, elasticsearchUrl, errorCodes, eventProducer, graphql, outageProxy, type EventProducer, type Outage, type ServiceUnderTest } from '@shopgraph/testkit';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productData, search, searchUntil, startSearch, stockLevel, SUGGEST, uniqueWord } from './support.ts';

// Elasticsearch really unreachable, as the service sees it: its connections go through a proxy the
// test cuts (connections dropped, new ones refused), or to a node that never answers.

let proxy: Outage;
let service: ServiceUnderTest;
let url: string;
let producer: EventProducer;
const consumed = consumerOutcomes();

beforeAll(async () => {
  proxy = await outageProxy(elasticsearchUrl());
  // Down before the service starts: it starts anyway.
  proxy.cut();
  service = await startSearch({ onMessage: consumed.record }, { env: { ELASTICSEARCH_URL: proxy.url } });
  ({ url } = service);
  producer = eventProducer();
});
afterAll(async () => {
  await producer?.close();
  await service?.close();
  await proxy?.close();
});

const changed = (data: EventData<'catalog.product.changed'>) => producer.publish('catalog.product.changed', data.productId, data);

/** Searches while Elasticsearch is away: refused at once with SEARCH_UNAVAILABLE, nothing of Elasticsearch's in the answer. */
async function expectUnavailable(query: string): Promise<void> {
  const started = performance.now();
  const response = await search(url, { query });
  expect(performance.now() - started).toBeLessThan(1_000);
  expect(response.data ?? null).toBeNull();
  expect(errorCodes(response)).toEqual(['SEARCH_UNAVAILABLE']);
  expect(JSON.stringify(response.errors)).not.toMatch(/elastic|ECONN|socket|hang up|exception|127\.0\.0\.1/i);
  const suggested = await graphql(url, SUGGEST, { prefix: query });
  expect(errorCodes(suggested)).toEqual(['SEARCH_UNAVAILABLE']);
}

describe('Elasticsearch unreachable', () => {
  it('starts without it, stays ready, and creates its index and indexes what came meanwhile once it is reachable', async () => {
    const word = uniqueWord();
    const event = await changed(productData({ name: `Globe ${word}` }));
    await expectUnavailable(word);
    expect((await fetch(new URL('/readyz', service.base))).status).toBe(200);
    await sleep(1_000);
    expect(consumed.resultsOf(event)).toEqual([]);

    proxy.restore();
    await searchUntil(url, word, (ids) => ids.length === 1, undefined, 'the product published while Elasticsearch was away');
    expect(consumed.resultsOf(event)).toEqual(['processed']);
  });

  it('fails searches fast while it is cut off, holds the events meanwhile, and loses none once it is back', async () => {
    const word = uniqueWord();
    const before = productData({ name: `Atlas ${word}` });
    await changed(before);
    await searchUntil(url, word, (ids) => ids.length === 1);

    proxy.cut();
    await expectUnavailable(word);
    const during = Array.from({ length: 5 }, () => productData({ name: `Atlas ${word}` }));
    const events = [
      ...(await Promise.all(during.map(changed))),
      await changed({ ...before, description: 'antique' }),
      await producer.publish('inventory.stock.level-changed', before.productId, stockLevel(before.productId, true)),
    ];
    // The consumer tries, fails, and waits: nothing processed, nothing dead-lettered.
    await sleep(2_000);
    for (const event of events) expect(consumed.resultsOf(event)).toEqual([]);
    await expectUnavailable(word);

    proxy.restore();
    await searchUntil(url, word, (ids) => ids.length === 6, undefined, 'every product published while Elasticsearch was cut off');
    await searchUntil(url, `${word} antique`, (ids) => ids.length === 1 && ids[0] === before.productId, { inStock: true }, 'the change and the stock level made meanwhile');
    for (const event of events) expect(consumed.resultsOf(event)).toEqual(['processed']);
  });
});

describe('Elasticsearch not answering', () => {
  let silent: Server;
  let sockets: Socket[];
  let slow: ServiceUnderTest;

  beforeAll(async () => {
    // Accepts connections and never answers: a hung node.
    sockets = [];
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    slow = await startSearch({}, { env: { ELASTICSEARCH_URL: `http://127.0.0.1:${port}`, SEARCH_TIMEOUT_MS: '300', INDEXING_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => {
    await slow?.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails a search with SEARCH_UNAVAILABLE after SEARCH_TIMEOUT_MS, not later', async () => {
    const started = performance.now();
    const response = await search(slow.url, { query: 'kettle' });
    const elapsed = performance.now() - started;
    expect(errorCodes(response)).toEqual(['SEARCH_UNAVAILABLE']);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(1_000);
  });
});
