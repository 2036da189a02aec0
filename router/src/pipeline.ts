import type { GraphQLDataSource } from '@apollo/gateway';
import type { Identity } from '@shopgraph/core/auth';
import { ErrorCode, graphqlError } from '@shopgraph/core/errors';
import type { Requirement } from '@shopgraph/core/authz';
import type { Session } from '@shopgraph/core/session';
import type { Limits } from '@shopgraph/core/limits';
import type { Logger } from '@shopgraph/core/log';
import { isRefusal, operationPreparer, type OperationInput, type PreparedRequest, type Refusal } from '@shopgraph/core/operation';
import { mapAsync, type PushIterator } from '@shopgraph/core/stream';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { variablesFor, type IncrementalPayload, type PlanExecution, type PreparedOperation } from './execution.ts';
import { asResult, SubgraphSubscriptions } from './subgraph-subscriptions.ts';

/**
 * The router's one operation pipeline, which every transport (HTTP, graphql-ws, SSE, multipart)
 * calls: parse with the limits → validate → authorize → plan (one cache, one key) → execute.
 * Transports only turn their wire format into an `OperationInput` and a `Caller`, and results back.
 */

/** Who is calling, as every transport declares it: the verified identity and what is forwarded on its behalf. */
export interface Caller {
  /** From a verified bearer token; null when anonymous. */
  identity: Identity | null;
  /** The verified `Authorization` header, forwarded unchanged to every subgraph; undefined when anonymous. */
  authorization: string | undefined;
}

/**
 * How long the answer may be cached, narrowed by every subgraph fetch's `Cache-Control` as Apollo
 * Server's cache policy is: cacheable only if every fetch said for how long.
 */
export class CachePolicy {
  maxAge: number | undefined;
  scope: 'PUBLIC' | 'PRIVATE' = 'PUBLIC';

  restrict(hint: { maxAge?: number; scope?: 'PUBLIC' | 'PRIVATE' }): void {
    if (hint.maxAge !== undefined && (this.maxAge === undefined || hint.maxAge < this.maxAge)) this.maxAge = hint.maxAge;
    if (hint.scope === 'PRIVATE') this.scope = 'PRIVATE';
  }

  /** The response's Cache-Control, when it may be cached at all. */
  header(): string | undefined {
    return this.maxAge ? `max-age=${this.maxAge}, ${this.scope.toLowerCase()}` : undefined;
  }
}

/** What the data sources see of a request: who is calling, and the cache policy their answers narrow. */
export interface FetchContext extends Caller {
  cachePolicy?: CachePolicy;
}

/** An operation that passed every check, with its plan. */
export interface RouterOperation extends PreparedRequest {
  kind: 'query' | 'mutation' | 'subscription';
  plan: PreparedOperation;
}

export interface PipelineOptions {
  /** Plans and runs operations. */
  execution: PlanExecution;
  /** One data source per subgraph, by name; they see the `Caller` as their context. */
  dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** Routing URLs (http/https) by subgraph name; subscriptions go to the same URL over ws/wss. */
  routingUrls: ReadonlyMap<string, string>;
  /** `@authenticated` / `@requiresScopes` by coordinate, from the supergraph. */
  requirements: ReadonlyMap<string, Requirement>;
  limits: Limits;
  production: boolean;
  logger: Logger;
  /**
   * Events buffered per subscription for a slow client before it is ended with SUBSCRIPTION_OVERFLOW
   * (those executed per event; a passed-through one is bounded by the transport's buffered bytes).
   */
  maxBufferedEvents?: number;
}

export interface Pipeline {
  /** The API schema clients validate against. */
  readonly schema: GraphQLSchema;
  /** Every check before execution for the caller's identity, and the plan; or why the operation is refused (with an HTTP status). */
  prepare(input: OperationInput, identity: Identity | null, options?: { readOnly?: boolean }): RouterOperation | Refusal;
  /**
   * Runs a query or mutation; `cachePolicy`, if given, learns how long the answer may be cached.
   * `@defer` is ignored: the answer comes whole (as for every transport but incremental delivery).
   */
  execute(operation: RouterOperation, caller: Caller, cachePolicy?: CachePolicy): Promise<ExecutionResult>;
  /**
   * Runs a query delivering its `@defer`red fragments incrementally: `emit` gets the payload without
   * them, then theirs as they come (execution.ts `executeIncremental`). A mutation's `@defer` is
   * ignored (the spec lets a server not defer): it, like any operation without `@defer`, comes
   * whole in one payload.
   */
  executeIncremental(operation: RouterOperation, caller: Caller, emit: (payload: IncrementalPayload) => void): Promise<void>;
  /**
   * Runs a subscription for a signed-in session: its events, each either the subgraph's answer
   * passed through or the per-event plan run with the session's current token. The stream ends
   * upstream when returned.
   */
  subscribe(operation: RouterOperation, session: Session): PushIterator<ExecutionResult> | AsyncIterableIterator<ExecutionResult>;
  /** Subgraph subscriptions open now, and upstream sockets (for metrics and tests). */
  stats(): { upstreamSubscriptions: number; upstreamSockets: number };
  /** Closes the subgraph subscription connections. */
  close(): void;
}

export { isRefusal, type OperationInput, type Refusal };

export function createPipeline(options: PipelineOptions): Pipeline {
  const { execution, dataSources, logger, maxBufferedEvents = 1_000 } = options;
  const { schema } = execution;
  const prepareRequest = operationPreparer({ schema, limits: options.limits, production: options.production, requirements: options.requirements });
  const upstream = new SubgraphSubscriptions(options.routingUrls, logger);

  const run = (operation: RouterOperation, services: Readonly<Record<string, GraphQLDataSource>>, caller: Caller, cachePolicy?: CachePolicy) =>
    execution.execute(operation.plan, services, { variables: operation.variables, context: { identity: caller.identity, authorization: caller.authorization, cachePolicy } satisfies FetchContext });
  // As graphql-js 17 validates (and Apollo's query planner refuses): each event of a subscription is one payload.
  const deferredSubscription = () =>
    ({ status: 400, errors: [graphqlError(ErrorCode.BAD_REQUEST, '@defer is not supported on subscriptions: remove it, or turn it off with @defer(if: false)')] }) satisfies Refusal;

  return {
    schema,
    prepare(input, identity, options) {
      const request = prepareRequest(input, identity, options);
      if (isRefusal(request)) return request;
      // Keyed like the document cache: by the text (and the operation picked from it).
      const plan = execution.prepare(`${request.operationName ?? ''}\n${request.query}`, request.document, request.operationName);
      if (plan.defer && request.operation.operation === 'subscription') return deferredSubscription();
      return { ...request, kind: request.operation.operation, plan };
    },
    execute: (operation, caller, cachePolicy) => run(operation, dataSources, caller, cachePolicy),
    executeIncremental: (operation, caller, emit) =>
      execution.executeIncremental(operation.plan, dataSources, { variables: operation.variables, context: { identity: caller.identity, authorization: caller.authorization } satisfies FetchContext }, emit),
    subscribe(operation, session) {
      const node = operation.plan.plan.node;
      if (node?.kind !== 'Subscription') throw new Error('Not a subscription plan');
      const { primary } = node;
      const variables = variablesFor(primary, operation.variables);
      // Passed through: each event is the answer, so no per-event execution (nor its async step).
      if (operation.plan.passesThrough) return upstream.subscribe(primary, variables, session, maxBufferedEvents, asResult);
      const perEvent: RouterOperation = { ...operation, plan: operation.plan.perEvent! };
      const events = upstream.subscribe(primary, variables, session, maxBufferedEvents, (event) => event);
      return mapAsync(events, (event) => {
        // The primary fetch answers with this event; every other subgraph is fetched as usual, with the latest token.
        const fromEvent: GraphQLDataSource = { process: async () => event };
        return run(perEvent, { ...dataSources, [primary.serviceName]: fromEvent }, session);
      });
    },
    stats: () => upstream.stats(),
    close: () => upstream.close(),
  };
}
