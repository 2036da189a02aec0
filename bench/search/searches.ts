// One search three ways: as the web client sends it (the SearchProducts operation through the
// router), as the search subgraph answers it alone (asked directly, only its own fields), and as
// the search service sends it to Elasticsearch (the same body, asked directly); and a summary of a
// window of them.
import { operation } from '../../e2e/operations.ts';
import type { graphqlClient, GraphQLResult } from '../saga/http.ts';
import { distribution, round, type Distribution } from '../saga/stats.ts';
import { searchBody, type ElasticsearchClient } from './elasticsearch.ts';
import { failures, type LoadResult, type Outcome } from './load.ts';
import type { SearchCase } from './queries.ts';

/** Results per page, as the web client asks. */
export const PAGE_SIZE = 20;
const SEARCH_PRODUCTS = operation('SearchProducts');

type GraphQLClient = ReturnType<typeof graphqlClient>;

/** Why a GraphQL answer failed (HTTP status and error codes), or undefined. */
export const problemOf = (result: GraphQLResult): string | undefined =>
  result.status !== 200 || result.errors?.length ? `HTTP ${result.status}: ${result.errors?.map((e) => e.extensions?.code ?? e.message).join(',') ?? ''}` : undefined;

/**
 * searchProducts through the router, with catalog's, inventory's and the categories' fields of
 * every result (the client's selection). `mustFind`: an answer with no result counts as failed.
 */
export const routerSearch =
  (client: GraphQLClient, cases: readonly SearchCase[], mustFind = false) =>
  async (i: number): Promise<Outcome> => {
    const search = cases[i % cases.length]!;
    const result = await client.post(SEARCH_PRODUCTS, { query: search.query, first: PAGE_SIZE, filter: search.filter ?? null });
    const problem = problemOf(result);
    if (problem) return { ok: false, error: problem };
    const total = result.data?.['searchProducts']?.total as number | undefined;
    if (total === undefined) return { ok: false, error: 'no searchProducts' };
    if (mustFind && total === 0) return { ok: false, error: 'no result' };
    return { ok: true, value: total };
  };

/** What the search subgraph answers itself (the products' indexed fields, total, facets, cursors), asked directly: the service without the router's fan-out. */
const SEARCH_SUBGRAPH_QUERY = `query BenchSearch($query: String!, $first: Int, $filter: ProductSearchFilter) {
  searchProducts(query: $query, first: $first, filter: $filter) {
    total
    edges { cursor node { id sku name price { amount currency } category { id } } }
    pageInfo { hasNextPage endCursor }
    facets { categories { category { id } count } priceRanges { min max count } }
  }
}`;

export const subgraphSearch =
  (client: GraphQLClient, cases: readonly SearchCase[]) =>
  async (i: number): Promise<Outcome> => {
    const search = cases[i % cases.length]!;
    const result = await client.post(SEARCH_SUBGRAPH_QUERY, { query: search.query, first: PAGE_SIZE, filter: search.filter ?? null });
    const problem = problemOf(result);
    return problem ? { ok: false, error: problem } : { ok: true, value: result.data?.['searchProducts']?.total };
  };

/** The search service's Elasticsearch request for the same search, sent directly; the outcome's value is Elasticsearch's `took`. */
export const directSearch =
  (es: ElasticsearchClient, alias: string, cases: readonly SearchCase[]) => {
    const bodies = cases.map((search) => searchBody(search, PAGE_SIZE));
    return async (i: number): Promise<Outcome> => {
      const { status, body } = await es.request<{ took?: number; error?: { type?: string } }>('POST', `/${alias}/_search`, bodies[i % bodies.length]);
      if (status !== 200) return { ok: false, error: `HTTP ${status}: ${body.error?.type ?? ''}` };
      return { ok: true, value: body.took ?? Number.NaN };
    };
  };

export interface WindowSummary {
  seconds: number;
  sent: number;
  ok: number;
  failed: Record<string, number>;
  /** Not sent: too many still waiting (see openLoop). */
  skipped: number;
  achievedPerS: number;
  /** From when each answered request was due to its answer (ms). */
  latencyMs: Distribution;
  /** The outcomes' values (Elasticsearch's `took`, when asked directly). */
  values?: Distribution;
  maxSendLagMs: number;
}

export function summarize(result: LoadResult, withValues = false): WindowSummary {
  const ok = result.samples.filter((s) => s.outcome.ok);
  return {
    seconds: round(result.seconds),
    sent: result.samples.length,
    ok: ok.length,
    failed: failures(result.samples),
    skipped: result.skipped,
    achievedPerS: round(ok.length / result.seconds),
    latencyMs: distribution(ok.map((s) => s.end - s.due)),
    ...(withValues ? { values: distribution(ok.map((s) => s.outcome.value ?? Number.NaN).filter(Number.isFinite)) } : {}),
    maxSendLagMs: result.maxSendLagMs,
  };
}
