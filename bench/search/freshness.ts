// Figure 2: how long after catalog answers an updateProduct the change is searchable, while
// changes flow at a fixed rate: one updateProduct per change (staff editing), or updateProducts of
// `batch` changes (a price feed, an import). Each change renames and reprices a different product (catalog
// records catalog.product.changed in its outbox; the relay, Kafka, the search consumer and the
// index's refresh do the rest). Every POLL_EVERY_MS one Elasticsearch search asks which documents
// became searchable since the last poll, by their sequence numbers: a search sees refreshed
// segments only (unlike a realtime GET), a change's name and price arrive in one partial update, and
// each update takes the shard's next `_seq_no`. So a poll costs what became visible since the one
// before, not what is pending (asking for the pending ids, as this bench first did, doubled
// Elasticsearch's CPU per change; bench/search/update-cost.ts measures the poll beside the writes).
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
/** Hits per poll at most; a full page is followed at once by the next. */
const POLL_PAGE = 1_000;
/** A change not searchable this long after the window counts as lost. */
const GIVE_UP_MS = 30_000;

type PollHit = { _id: string; _seq_no: number; fields?: { 'price.amount'?: number[] } };

/**
 * The poll's search: documents updated after sequence number `after` that a search sees, in the
 * order they were written, with their price. The search service's consumer writes one bulk at a
 * time to the index's one shard, so a refresh shows every update up to some sequence number and
 * none after it: nothing below the last one seen appears later (a change that did would be
 * reported never searchable, not missed silently).
 */
const pollRequest = (after: number) => ({
  query: { range: { _seq_no: { gt: after } } },
  sort: [{ _seq_no: 'asc' }],
  size: POLL_PAGE,
  seq_no_primary_term: true,
  _source: false,
  docvalue_fields: ['price.amount'],
});

/** Polls `alias` for documents newly searchable, from the last sequence number it holds now. */
export async function searchablePoller(es: ElasticsearchClient, alias: string) {
  const newest = await es.request<{ hits?: { hits: PollHit[] } }>('POST', `/${alias}/_search`, { ...pollRequest(-1), sort: [{ _seq_no: 'desc' }], size: 1, docvalue_fields: [] });
  let seen = newest.body.hits?.hits[0]?._seq_no ?? -1;
  /** The documents searchable since the last call (paging through them), with their prices; a failed page is asked again next call. */
  return async (): Promise<{ id: string; price: number | undefined }[]> => {
    const found: { id: string; price: number | undefined }[] = [];
    for (;;) {
      const { status, body } = await es.request<{ hits?: { hits: PollHit[] } }>('POST', `/${alias}/_search`, pollRequest(seen));
      if (status !== 200) return found;
      const hits = body.hits?.hits ?? [];
      for (const hit of hits) found.push({ id: hit._id, price: hit.fields?.['price.amount']?.[0] });
      seen = hits.at(-1)?._seq_no ?? seen;
      if (hits.length < POLL_PAGE) return found;
    }
  };
}

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

  const poll = await searchablePoller(es, alias);
  const poller = (async () => {
    let giveUpAt = Number.POSITIVE_INFINITY;
    while (!signal.aborted) {
      if (loadDone.signal.aborted) {
        if (pending.size === 0) return;
        giveUpAt = Math.min(giveUpAt, now() + GIVE_UP_MS);
        if (now() > giveUpAt) return;
      }
      const started = now();
      const visible = await poll();
      const seen = now();
      polls.push(seen - started);
      for (const { id, price } of visible) {
        const change = pending.get(id);
        // An earlier update of the product may show first; the change's own comes later, with its price.
        if (change && price === change.price) {
          latencies.push(seen - change.answeredAt);
          pending.delete(id);
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
