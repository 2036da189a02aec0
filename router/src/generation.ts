import type { GraphQLDataSource } from '@apollo/gateway';
import { requirementsOf } from '@shopgraph/core/authz';
import { expensiveFieldRule, expensiveFieldsOf } from '@shopgraph/core/expensive';
import type { ReadinessCheck } from '@shopgraph/core/http';
import type { Limits } from '@shopgraph/core/limits';
import type { Logger } from '@shopgraph/core/log';
import { operationPreparer, type OperationPreparer } from '@shopgraph/core/operation';
import { buildASTSchema, parse, type GraphQLSchema } from 'graphql';
import { createPlanExecution, type PlanExecution } from './execution.ts';
import type { HttpClient } from '@shopgraph/core/http-client';
import { subgraphDataSource, subgraphReadiness, type FetchObservers } from './subgraphs.ts';
import { envName, gatewaySupergraphSdl, subgraphsOf, withUrlOverrides, type SubgraphEndpoint } from './supergraph.ts';
import type { SupergraphVersion } from './supergraph-source.ts';

/**
 * Everything the router derives from one supergraph, computed once when it arrives and never
 * changed after: the API schema, the planner and its plan cache, the documents validated against
 * it, `@authenticated`/`@requiresScopes` requirements, the subgraphs and their data sources. An
 * operation runs to its end on the generation it was prepared on (pipeline.ts), so a new supergraph
 * is swapped in by replacing one reference.
 */
export interface Generation {
  /** sha256 hex of the supergraph SDL. */
  readonly id: string;
  /** The API schema clients validate against. */
  readonly schema: GraphQLSchema;
  readonly execution: PlanExecution;
  /** Parse, validate, authorize (documents cached per generation: validity depends on the schema). */
  readonly prepareRequest: OperationPreparer;
  /** One data source per subgraph, by name. */
  readonly dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** Routing URLs (http/https) by subgraph name; subscriptions go to the same URL over ws/wss. */
  readonly routingUrls: ReadonlyMap<string, string>;
  readonly subgraphs: readonly SubgraphEndpoint[];
  /** Each subgraph's /readyz, by name. */
  readonly subgraphReadiness: Readonly<Record<string, ReadinessCheck>>;
}

export interface GenerationOptions {
  /** Routing URL overrides (by subgraph name or its env form). */
  subgraphUrls: Record<string, string>;
  /**
   * An override naming no subgraph fails the build (start-up: a typo must not silently route to the
   * default URL); else it is logged and skipped (a later supergraph that dropped the subgraph).
   */
  strictOverrides: boolean;
  client: HttpClient;
  limits: Limits;
  production: boolean;
  readiness: { timeoutMs: number; cacheMs: number };
  logger: Logger;
  /** What sees each subgraph fetch (metrics, tracing). */
  observe?: FetchObservers;
  /** Subgraphs that take batched HTTP requests (the operations of one request are at most `limits.LIMIT_MAX_BATCH_OPERATIONS`). */
  batched?: 'all' | ReadonlySet<string>;
  /** Estimated bytes the document cache and the plan cache may each hold (defaults: core's and execution.ts's). */
  cacheBytes?: { documents?: number; plans?: number };
}

/** Builds a generation; throws when the SDL does not parse, is no supergraph, or Apollo's federation refuses it. */
export function buildGeneration({ id, sdl }: SupergraphVersion, options: GenerationOptions): Generation {
  const supergraph = parse(sdl);
  const endpoints = subgraphsOf(supergraph);
  let overrides = options.subgraphUrls;
  if (!options.strictOverrides) {
    const known = new Set(endpoints.map((e) => envName(e.name)));
    const unknown = Object.keys(overrides).filter((key) => !known.has(envName(key)));
    if (unknown.length) options.logger.warn({ supergraph: id, unknown }, 'subgraph URL overrides for subgraphs this supergraph does not have: ignored');
    overrides = Object.fromEntries(Object.entries(overrides).filter(([key]) => known.has(envName(key))));
  }
  const subgraphs = withUrlOverrides(endpoints, overrides);
  // Federation refuses SECURITY features it does not enforce; the pipeline enforces these.
  const execution = createPlanExecution(gatewaySupergraphSdl(supergraph), { planCacheBytes: options.cacheBytes?.plans });
  const { schema } = execution;
  return {
    id,
    schema,
    execution,
    prepareRequest: operationPreparer({
      schema,
      limits: options.limits,
      production: options.production,
      requirements: requirementsOf(supergraph),
      documentCacheBytes: options.cacheBytes?.documents,
      // Expensive fields (`@expensive`, kept by composition; the API schema drops the directive) run
      // once per operation: refused here, before subgraphs that each see one selection of them.
      validationRules: [expensiveFieldRule(expensiveFieldsOf(buildASTSchema(supergraph, { assumeValidSDL: true })))],
    }),
    dataSources: Object.fromEntries(
      subgraphs.map(({ name, url }) => {
        const batching = options.batched === 'all' || options.batched?.has(name) ? { maxSize: options.limits.LIMIT_MAX_BATCH_OPERATIONS } : undefined;
        return [name, subgraphDataSource(name, url, options.client, options.observe, batching)];
      }),
    ),
    routingUrls: new Map(subgraphs.map((s) => [s.name, s.url])),
    subgraphs,
    subgraphReadiness: Object.fromEntries(subgraphs.map(({ name, url }) => [name, subgraphReadiness(url, options.readiness.timeoutMs, options.readiness.cacheMs)])),
  };
}
