// Figure 2: how long after catalog answers an updateProduct the change is searchable, while
// changes flow at a fixed rate: one updateProduct per change (staff editing), or updateProducts of
// `batch` changes (a price feed, an import). Each change renames and reprices a different product (catalog
// records catalog.product.changed in its outbox; the relay, Kafka, the search consumer and the
// index's refresh do the rest). Every POLL_EVERY_MS one Elasticsearch search asks which of the
// longest-pending products already have their new price: a search sees refreshed segments only
// (unlike a realtime GET), and name and price arrive in the same partial update. The poll is not
// free (bench/search/update-cost.ts measures it beside the writes), hence POLL_BATCH.
import { sleep } from '@shopgraph/core/lifecycle';
import { operation } from '../../e2e/operations.ts';
import type { graphqlClient } from '../saga/http.ts';
import { distribution, round, type Distribution } from '../saga/stats.ts';
import { productName, random, type ProductSpec } from './catalog.ts';
import type { ElasticsearchClient } from './elasticsearch.ts';
import { failures, now, openLoop } from './load.ts';
import { problemOf } from './searches.ts';

const UPDATE_PRODUCT = operation('UpdateProduct');
const UPDATE_PRODUCTS = operation('UpdateProducts');
/** Time between polls: a change is seen up to this late (on average half of it), never early. */
export const POLL_EVERY_MS = 50;
/**
 * Products per poll, the longest pending first; the others wait for a later poll. The poll is the
 * bench's own load on Elasticsearch (its cost grows with the ids it asks about), and more than this
 * pending means changes are a second behind at 500/s, past the target already.
 */
export const POLL_BATCH = 500;
/** A change not searchable this long after the window counts as lost. */
const GIVE_UP_MS = 30_000;

/** The poll's search: which of these products are searchable with these prices (hits carry their price). */
export const pollRequest = (changes: readonly { id: string; price: number }[]) => ({
  query: { bool: { filter: [{ ids: { values: changes.map((c) => c.id) } }, { terms: { 'price.amount': [...new Set(changes.map((c) => c.price))] } }] } },
  size: changes.length,
  _source: false,
  docvalue_fields: ['price.amount'],
});

export interface FreshnessResult {
  /** Changes per second asked. */
  rate: number;
  /** Changes per mutation: 1 is updateProduct, more is updateProducts. */
  batch: number;
  seconds: number;
  changesSent: number;
  changesAccepted: number;
  achievedPerS: number;
  mutationFailed: Record<string, number>;
  /** Mutations not sent: `maxInFlight` were still waiting (catalog could not keep up). */
  skipped: number;
  /** The mutation, from when it was due to its answer. */
  mutationMs: Distribution;
  /** From the mutation's answer to the first poll that found the new price. */
  answerToSearchableMs: Distribution;
  /** Accepted changes never seen searchable (within 30 s of the window's end). */
  notSearchable: number;
  pollMs: Distribution;
}

export async function measureFreshness(options: {
  catalog: ReturnType<typeof graphqlClient>;
  staffToken: string;
  es: ElasticsearchClient;
  alias: string;
  products: readonly ProductSpec[];
  currency: string;
  rate: number;
  batch: number;
  seconds: number;
  maxInFlight: number;
  signal: AbortSignal;
  seed: number;
}): Promise<FreshnessResult> {
  const { catalog, staffToken, es, alias, products, rate, batch, seconds, signal } = options;
  const rand = random(options.seed);
  // A different product for every change (in a shuffled order), so no two changes of one product are pending at once.
  const order = products.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pending = new Map<string, { price: number; answeredAt: number }>();
  const latencies: number[] = [];
  const polls: number[] = [];
  const loadDone = new AbortController();

  const poller = (async () => {
    let giveUpAt = Number.POSITIVE_INFINITY;
    while (!signal.aborted) {
      if (loadDone.signal.aborted) {
        if (pending.size === 0) return;
        giveUpAt = Math.min(giveUpAt, now() + GIVE_UP_MS);
        if (now() > giveUpAt) return;
      }
      const started = now();
      if (pending.size > 0) {
        const batch = [...pending].slice(0, POLL_BATCH);
        const { status, body } = await es.request<{ hits?: { hits: { _id: string; fields?: { 'price.amount'?: number[] } }[] } }>('POST', `/${alias}/_search`, pollRequest(batch.map(([id, { price }]) => ({ id, price }))));
        const seen = now();
        polls.push(seen - started);
        if (status === 200) {
          for (const hit of body.hits?.hits ?? []) {
            const change = pending.get(hit._id);
            // Another pending change's price may be this product's old one: its own price decides.
            if (change && hit.fields?.['price.amount']?.[0] === change.price) {
              latencies.push(seen - change.answeredAt);
              pending.delete(hit._id);
            }
          }
        }
      }
      await sleep(Math.max(0, POLL_EVERY_MS - (now() - started)), signal);
    }
  })();

  let next = 0;
  const load = await openLoop({
    rate: rate / batch,
    seconds,
    maxInFlight: options.maxInFlight,
    signal,
    send: async () => {
      const changes = Array.from({ length: batch }, () => {
        const product = products[order[next++ % order.length]!]!;
        let name = productName(rand, product.noun);
        while (name === product.name) name = productName(rand, product.noun);
        const step = 100 + Math.floor(rand() * 900);
        const price = product.price > step + 99 && rand() < 0.5 ? product.price - step : product.price + step;
        return { product, name, price };
      });
      const inputs = changes.map(({ product, name, price }) => ({ id: product.id, name, price: { amount: price, currency: options.currency } }));
      const [mutation, variables, field] = batch === 1 ? [UPDATE_PRODUCT, { input: inputs[0] }, 'updateProduct'] : [UPDATE_PRODUCTS, { input: { products: inputs } }, 'updateProducts'];
      const result = await catalog.post(mutation, variables, staffToken);
      const answeredAt = now();
      const payload = result.data?.[field];
      const problem = problemOf(result) ?? (payload?.product || payload?.products ? undefined : `${field}: ${JSON.stringify(payload?.errors ?? null)}`);
      if (problem) return { ok: false, error: problem };
      for (const { product, name, price } of changes) {
        product.name = name;
        product.price = price;
        pending.set(product.id, { price, answeredAt });
      }
      return { ok: true };
    },
  });
  loadDone.abort();
  await poller;

  const accepted = load.samples.filter((s) => s.outcome.ok);
  return {
    rate,
    batch,
    seconds: round(load.seconds),
    changesSent: load.samples.length * batch,
    changesAccepted: accepted.length * batch,
    achievedPerS: round((accepted.length * batch) / load.seconds),
    mutationFailed: failures(load.samples),
    skipped: load.skipped,
    mutationMs: distribution(accepted.map((s) => s.end - s.due)),
    answerToSearchableMs: distribution(latencies),
    notSearchable: pending.size,
    pollMs: distribution(polls),
  };
}
