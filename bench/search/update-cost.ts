// Diagnostic: what a stream of product changes costs Elasticsearch alone (BENCHMARKS.md, "Search").
// No stack: the bench's shop indexed as the service indexes it (its own mapping and rebuild), then
// rounds of `--rate` changes/s (a new name and price, a different product each) written through the
// service's own index client as its consumer writes them (bulks of `--batch` partial upserts), with
// and without the freshness bench's poll beside them; Elasticsearch's CPU from /proc per round, so
// its JIT warming up shows as the rounds go.
//   node bench/search/update-cost.ts [--products 100000] [--rate 500] [--batch 50] [--seconds 20] [--rounds 3]
import { sleep } from '@shopgraph/core/lifecycle';
import { createLogger } from '@shopgraph/kit';
import { ensureElasticsearch, repoDirs } from '@shopgraph/infra';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { productIndex } from '../../subgraphs/search/src/clients/product-index.client.ts';
import { positive } from '../lib/run.ts';
import { cpuBetween, sampleCpu } from '../saga/cpu.ts';
import { generateShop, productName, random } from './catalog.ts';
import { dropIndices, elasticsearchClient, indexedFields, indexShop } from './elasticsearch.ts';
import { POLL_EVERY_MS, searchablePoller } from './freshness.ts';

const { values: args } = parseArgs({
  options: { products: { type: 'string', default: '100000' }, rate: { type: 'string', default: '500' }, batch: { type: 'string', default: '50' }, seconds: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' } },
});
const products = Math.round(positive('products', args.products));
const rate = positive('rate', args.rate);
const batch = Math.round(positive('batch', args.batch));
const seconds = positive('seconds', args.seconds);
const rounds = Math.round(positive('rounds', args.rounds));
const prefix = `updatecost${Date.now().toString(36)}-`;
const alias = `${prefix}products`;

const { cache, data } = repoDirs();
const es = await ensureElasticsearch({ cacheDir: cache, dataDir: join(data, 'bench-search', 'elasticsearch'), log: (m) => console.error(m) });
const client = elasticsearchClient(es.url, { maxSockets: 4, timeoutMs: 30_000 });
const index = productIndex({ url: es.url, prefix, searchTimeoutMs: 10_000, indexingTimeoutMs: 60_000, logger: createLogger('update-cost', 'warn') });
try {
  const shop = generateShop(products);
  await indexShop(index, shop.products);
  console.error(`indexed ${products} products`);
  const rand = random(7);
  let next = 0;

  /** One round: `rate` changes/s for `seconds`, in bulks of `batch`; with the freshness bench's poll beside them when `poll`. */
  const round = async (poll: boolean) => {
    let polling = poll;
    const visible = await searchablePoller(client, alias);
    const poller = (async () => {
      while (polling) {
        await visible();
        await sleep(POLL_EVERY_MS);
      }
    })();
    const before = sampleCpu('none');
    const started = performance.now();
    const bulks = Math.round((rate * seconds) / batch);
    for (let b = 0; b < bulks; b++) {
      const changes = Array.from({ length: batch }, () => {
        const product = shop.products[(next++ * 7_919) % shop.products.length]!;
        product.name = productName(rand, product.noun);
        product.price += 1 + Math.floor(rand() * 100);
        const { name, price, suggest } = indexedFields(product);
        return { id: product.id, fields: { id: product.id, name, price, suggest } };
      });
      await index.write(changes);
      await sleep(Math.max(0, started + ((b + 1) * batch * 1000) / rate - performance.now()));
    }
    polling = false;
    await poller;
    const cpu = cpuBetween(before, sampleCpu('none'));
    const pct = cpu.byLabel['elasticsearch (JVMs)'] ?? 0;
    return { pct, msPerChange: (pct * 10 * cpu.seconds) / (bulks * batch), others: cpu.otherPct };
  };

  console.log(`Elasticsearch's CPU for ${rate} changes/s in bulks of ${batch} over ${products} products, ${seconds} s per window`);
  for (let r = 1; r <= rounds; r++) {
    for (const poll of [false, true]) {
      await sleep(2_000);
      const { pct, msPerChange, others } = await round(poll);
      console.log(`  round ${r}  ${(poll ? 'writes + the freshness poll' : 'writes only').padEnd(28)} ${pct.toFixed(1).padStart(5)} % of a core, ${msPerChange.toFixed(2)} ms per change   (others ${others} % of a core)`);
    }
  }
} finally {
  await index.close();
  await dropIndices(client, prefix).catch(() => {});
  client.close();
  await es.stop();
}
