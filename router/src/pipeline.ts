import type { GraphQLDataSource } from '@apollo/gateway';
import type { Identity } from '@shopgraph/core/auth';
import { ErrorCode, graphqlError } from '@shopgraph/core/errors';
import type { Session } from '@shopgraph/core/session';
import type { Logger } from '@shopgraph/core/log';
import { isRefusal, OperationErrorCode, type OperationInput, type PreparedRequest, type Refusal } from '@shopgraph/core/operation';
import { mapAsync, type PushIterator } from '@shopgraph/core/stream';
import { inSpan, SpanKind, type Tracer } from '@shopgraph/core/tracing';
import { GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createHash } from 'node:crypto';
import type { DocumentBudget } from './document-budget.ts';
import { variablesFor, type IncrementalPayload, type PreparedOperation } from './execution.ts';
import type { Generation } from './generation.ts';
import { isRefusalReason, type RouterMetrics } from './metrics.ts';
import { asResult, SubgraphSubscriptions, type UpstreamConnectionOptions, type UpstreamHandle } from './subgraph-subscriptions.ts';
import { NO_TRUSTED_DOCUMENTS, type TrustedDocuments } from './trusted-documents.ts';
import type { UsageRecorder } from './usage.ts';

/**
 * The router's one operation pipeline, which every transport (HTTP, graphql-ws, SSE, multipart)
 * calls: parse with the limits → validate → authorize → plan (one cache, one key) → execute.
 * Transports only turn their wire format into an `OperationInput` and a `Caller`, and results back.
 *
 * The supergraph may change while the router runs (a new one from the registry): an operation is
 * prepared on the current generation (generation.ts) and runs on it to its end, so a swap never
 * fails a request in flight. A live subscription keeps running on its generation while its
 * operation is still valid, and allowed, on the new one; else it ends with SUPERGRAPH_CHANGED.
 */

/** Who is calling, as every transport declares it: the verified identity and what is forwarded on its behalf. */
export interface Caller {
  /** From a verified bearer token; null when anonymous. */
  identity: Identity | null;
  /** The verified `Authorization` header, forwarded unchanged to every subgraph; undefined when anonymous. */
  authorization: string | undefined;
  /** The client's IP as the router determined it (TRUST_PROXY_HOPS), sent to subgraphs as `X-Forwarded-For`; undefined when not known. */
  clientAddress?: string | undefined;
  /** `apollographql-client-name` / `-version`, for usage reporting; undefined when not sent. */
  clientName?: string | undefined;
  clientVersion?: string | undefined;
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

/** Stable codes of the pipeline's own refusals and endings. */
export const PipelineErrorCode = {
  /** The variant accepts registered operations only, and this is not one. */
  OPERATION_NOT_TRUSTED: 'OPERATION_NOT_TRUSTED',
  /** A live subscription's operation is no longer valid (or allowed) on the supergraph now served. */
  SUPERGRAPH_CHANGED: 'SUPERGRAPH_CHANGED',
  /** The user has as many live subscriptions on this router as one user may (HTTP 429). */
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  /** More documents the router has not seen before than the caller's budget takes per second (HTTP 429). */
  TOO_MANY_NEW_DOCUMENTS: 'TOO_MANY_NEW_DOCUMENTS',
} as const;

/** An operation that passed every check, with its plan. */
export interface RouterOperation extends PreparedRequest {
  kind: 'query' | 'mutation' | 'subscription';
  plan: PreparedOperation;
  /** The supergraph it was prepared on, and runs on to its end. */
  generation: Generation;
}

export interface PipelineOptions {
  /** The supergraph to serve first. */
  generation: Generation;
  logger: Logger;
  /**
   * Events buffered per subscription for a slow client before it is ended with SUBSCRIPTION_OVERFLOW
   * (those executed per event; a passed-through one is bounded by the transport's buffered bytes).
   */
  maxBufferedEvents?: number;
  /** The variant's trusted documents: when required, nothing else runs. */
  trustedDocuments?: TrustedDocuments;
  /** Told of every operation run (usage reporting). */
  usage?: UsageRecorder;
  /** Counts and times every operation, and live subscriptions. */
  metrics?: RouterMetrics;
  /** Traces every operation, its fetches as children (when tracing is on). */
  tracer?: Tracer;
  /** A generation nothing uses any more (neither served nor running anything): release what only it used. */
  onRetire?: (retired: Generation, inUse: readonly Generation[]) => void;
  /**
   * Live subscriptions one user may have at once, over every transport together: they share the
   * router's one upstream connection per subgraph, which no user may fill for the others.
   */
  maxSubscriptionsPerUser?: number;
  /** Connect, ping and pong timeouts of the upstream WebSocket connections. */
  upstreamConnection?: UpstreamConnectionOptions;
  /** Documents not in the cache a caller may send per second (none: no limit). */
  newDocuments?: DocumentBudget;
}

export interface PrepareOptions {
  /** Only queries (and subscriptions) may run, as over HTTP GET. */
  readOnly?: boolean;
  /** The sha256 hex of `query`, when the transport has checked it already (a persisted query). */
  documentId?: string;
}

export interface Pipeline {
  /** The API schema clients validate against (the current generation's). */
  readonly schema: GraphQLSchema;
  /** The supergraph served now. */
  readonly generation: Generation;
  /** Every check before execution for the caller's identity, and the plan; or why the operation is refused (with an HTTP status). */
  prepare(input: OperationInput, identity: Identity | null, options?: PrepareOptions): RouterOperation | Refusal;
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
  subscribe(operation: RouterOperation, session: Session, caller?: Pick<Caller, 'clientName' | 'clientVersion'> & { transport?: SubscriptionTransport }): PushIterator<ExecutionResult> | AsyncIterableIterator<ExecutionResult>;
  /**
   * Serves `next` from now on. Operations already prepared finish on theirs; live subscriptions
   * whose operation `next` refuses end with SUPERGRAPH_CHANGED, the others keep running.
   */
  swap(next: Generation): { kept: number; ended: number };
  /** Subgraph subscriptions open now, and upstream sockets (for metrics and tests). */
  stats(): { upstreamSubscriptions: number; upstreamSockets: number };
  /** Closes the subgraph subscription connections. */
  close(): void;
}

export { isRefusal, type OperationInput, type Refusal };

export type SubscriptionTransport = 'ws' | 'sse' | 'multipart';

/** A subscription running now, on its generation. */
interface LiveSubscription {
  operation: RouterOperation;
  session: Session;
  upstream: UpstreamHandle<unknown>;
}

/** What keeps a generation in use: requests running on it, and live subscriptions. */
interface Use {
  requests: number;
  subscriptions: Set<LiveSubscription>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The operation's name as its document declares it (a client need not send `operationName` for a single operation). */
const nameOf = (operation: RouterOperation): string | null => operation.operation.name?.value ?? null;
const labelsOf = (operation: RouterOperation, caller: Pick<Caller, 'clientName' | 'clientVersion'>) => ({ type: operation.kind, name: nameOf(operation), clientName: caller.clientName ?? null, clientVersion: caller.clientVersion ?? null });
const spanName = (operation: RouterOperation) => `${operation.kind} ${nameOf(operation) ?? 'anonymous'}`;
/**
 * An operation's span. What a trace may say of it: its name and who sent it, never its variables;
 * said only when the span is sampled (most are not, at a low ratio, and cost no attributes).
 */
const traced = <T>(tracer: Tracer, operation: RouterOperation, caller: Caller, work: () => Promise<T>): Promise<T> =>
  inSpan(tracer, spanName(operation), { kind: SpanKind.SERVER }, (span) => {
    if (span.isRecording()) {
      span.setAttributes({
        'graphql.operation.type': operation.kind,
        'graphql.operation.name': nameOf(operation) ?? '',
        'graphql.client.name': caller.clientName ?? 'unknown',
        'graphql.client.version': caller.clientVersion ?? 'unknown',
      });
    }
    return work();
  });

export function createPipeline(options: PipelineOptions): Pipeline {
  const { logger, maxBufferedEvents = 1_000, usage, metrics, tracer, trustedDocuments = NO_TRUSTED_DOCUMENTS, maxSubscriptionsPerUser = Infinity, newDocuments } = options;
  const liveByUser = new Map<string, number>();
  const tooManySubscriptions = () =>
    new GraphQLError(`At most ${maxSubscriptionsPerUser} live subscriptions per user: end one before starting another`, { extensions: { code: PipelineErrorCode.TOO_MANY_SUBSCRIPTIONS } });
  /** Counts refusals of hostile traffic (by their stable code) on the way out. */
  const counted = (refusal: Refusal): Refusal => {
    const code = refusal.errors[0]?.extensions['code'];
    if (isRefusalReason(code)) metrics?.refused(code);
    return refusal;
  };
  const upstream = new SubgraphSubscriptions(logger, options.upstreamConnection);
  let current = options.generation;
  const uses = new Map<Generation, Use>([[current, { requests: 0, subscriptions: new Set() }]]);

  const useOf = (generation: Generation): Use => {
    let use = uses.get(generation);
    // Retired between prepare and run (a WebSocket operation waits a tick): in use again until done.
    if (!use) uses.set(generation, (use = { requests: 0, subscriptions: new Set() }));
    return use;
  };
  const retireIfUnused = (generation: Generation) => {
    const use = uses.get(generation);
    if (generation === current || !use || use.requests || use.subscriptions.size) return;
    uses.delete(generation);
    const inUse = [...uses.keys()];
    upstream.release(new Set(inUse.flatMap((g) => [...g.routingUrls.values()])));
    options.onRetire?.(generation, inUse);
  };
  /** Runs `work` with its generation counted as in use. */
  const using = async <T>(generation: Generation, work: () => Promise<T>): Promise<T> => {
    const use = useOf(generation);
    use.requests++;
    try {
      return await work();
    } finally {
      use.requests--;
      if (generation !== current) retireIfUnused(generation);
    }
  };

  /** An operation's span (tracing on), and what usage and metrics learn of it once it settles. */
  const observed = async (operation: RouterOperation, caller: Caller, work: () => Promise<ExecutionResult>): Promise<ExecutionResult> => {
    const started = performance.now();
    let failed = true;
    try {
      const result = await (tracer ? traced(tracer, operation, caller, work) : work());
      failed = !!result.errors?.length;
      return result;
    } finally {
      usage?.record(operation, caller.clientName, caller.clientVersion, failed);
      metrics?.operation(labelsOf(operation, caller), (performance.now() - started) / 1000, !failed);
    }
  };

  const run = (operation: RouterOperation, services: Readonly<Record<string, GraphQLDataSource>>, caller: Caller, cachePolicy?: CachePolicy) =>
    operation.generation.execution.execute(operation.plan, services, { variables: operation.variables, context: { identity: caller.identity, authorization: caller.authorization, clientAddress: caller.clientAddress, cachePolicy } satisfies FetchContext });
  // As graphql-js 17 validates (and Apollo's query planner refuses): each event of a subscription is one payload.
  const deferredSubscription = () =>
    ({ status: 400, errors: [graphqlError(ErrorCode.BAD_REQUEST, '@defer is not supported on subscriptions: remove it, or turn it off with @defer(if: false)')] }) satisfies Refusal;
  // graphql-js 16 validates a subscription (or mutation) against a schema that has none: refused here as validation would.
  const noRootType = (kind: string) =>
    ({ status: 400, errors: [new GraphQLError(`The schema has no ${kind} type`, { extensions: { code: OperationErrorCode.GRAPHQL_VALIDATION_FAILED } })] }) satisfies Refusal;
  const tooManyNewDocuments = (): Refusal => ({
    status: 429,
    errors: [new GraphQLError('Too many documents this router has not seen before: retry in 1 s, or send the operations your client already sent', { extensions: { code: PipelineErrorCode.TOO_MANY_NEW_DOCUMENTS, retryAfter: 1 } })],
  });
  const notTrusted = () =>
    ({ status: 400, errors: [new GraphQLError('This router runs registered operations only, and this operation is not one of them: register it (clients push) or send a registered one', { extensions: { code: PipelineErrorCode.OPERATION_NOT_TRUSTED } })] }) satisfies Refusal;
  const supergraphChanged = (reasons: readonly GraphQLError[]) =>
    new GraphQLError(`The supergraph changed and this subscription's operation is no longer valid on it (${reasons.map((r) => r.message).join('; ')}): update the operation and subscribe again`, {
      extensions: { code: PipelineErrorCode.SUPERGRAPH_CHANGED },
    });

  /** Why a live subscription's operation would be refused on `generation` (for its session's identity now), if it would. */
  const refusalOn = (generation: Generation, live: LiveSubscription): readonly GraphQLError[] | undefined => {
    const { query, operationName, variables, operation } = live.operation;
    const request = generation.prepareRequest({ query, operationName, variables }, live.session.identity);
    if (isRefusal(request)) return request.errors;
    if (!generation.schema.getRootType(operation.operation)) return noRootType(operation.operation).errors;
    try {
      generation.execution.prepare(`${request.operationName ?? ''}\n${request.query}`, request.document, request.operationName);
    } catch (error) {
      return [error instanceof GraphQLError ? error : new GraphQLError(String(error))];
    }
    return undefined;
  };

  return {
    get schema() {
      return current.schema;
    },
    get generation() {
      return current;
    },
    prepare(input, identity, prepareOptions) {
      if (trustedDocuments.required) {
        const id = prepareOptions?.documentId ?? (typeof input.query === 'string' ? sha256(input.query) : undefined);
        if (id === undefined || !trustedDocuments.has(id)) return notTrusted();
      }
      const generation = current;
      // A document not in the cache is the expensive kind: budgeted before it is parsed.
      const admitNew = newDocuments && (() => (newDocuments.take(identity) ? undefined : tooManyNewDocuments()));
      const request = generation.prepareRequest(input, identity, { ...prepareOptions, admitNew });
      if (isRefusal(request)) return counted(request);
      // Checked here too (not only when it starts), so every transport refuses it like any other operation.
      if (request.operation.operation === 'subscription' && identity && (liveByUser.get(identity.userId) ?? 0) >= maxSubscriptionsPerUser) {
        return counted({ status: 429, errors: [tooManySubscriptions()] });
      }
      if (!generation.schema.getRootType(request.operation.operation)) return noRootType(request.operation.operation);
      // Keyed like the document cache: by the text (and the operation picked from it).
      const plan = generation.execution.prepare(`${request.operationName ?? ''}\n${request.query}`, request.document, request.operationName);
      if (plan.defer && request.operation.operation === 'subscription') return deferredSubscription();
      return { ...request, kind: request.operation.operation, plan, generation };
    },
    execute(operation, caller, cachePolicy) {
      const work = () => run(operation, operation.generation.dataSources, caller, cachePolicy);
      return using(operation.generation, usage || metrics || tracer ? () => observed(operation, caller, work) : work);
    },
    executeIncremental(operation, caller, emit) {
      usage?.record(operation, caller.clientName, caller.clientVersion, false);
      const started = performance.now();
      const work = () =>
        operation.generation.execution.executeIncremental(operation.plan, operation.generation.dataSources, { variables: operation.variables, context: { identity: caller.identity, authorization: caller.authorization, clientAddress: caller.clientAddress } satisfies FetchContext }, emit);
      return using(operation.generation, () => (tracer ? traced(tracer, operation, caller, work) : work())).finally(() =>
        metrics?.operation(labelsOf(operation, caller), (performance.now() - started) / 1000, true),
      );
    },
    subscribe(operation, session, caller) {
      const { generation } = operation;
      const node = operation.plan.plan.node;
      if (node?.kind !== 'Subscription') throw new Error('Not a subscription plan');
      const { primary } = node;
      const url = generation.routingUrls.get(primary.serviceName);
      if (!url) throw new Error(`No routing URL for subgraph "${primary.serviceName}"`);
      // Prepared before another of the user's started: the quota holds whatever came in between.
      const { userId } = session.identity;
      const live = liveByUser.get(userId) ?? 0;
      if (live >= maxSubscriptionsPerUser) {
        metrics?.refused(PipelineErrorCode.TOO_MANY_SUBSCRIPTIONS);
        throw tooManySubscriptions();
      }
      liveByUser.set(userId, live + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const left = (liveByUser.get(userId) ?? 1) - 1;
        if (left > 0) liveByUser.set(userId, left);
        else liveByUser.delete(userId);
      };
      usage?.record(operation, caller?.clientName, caller?.clientVersion, false);
      metrics?.operation(labelsOf(operation, caller ?? {}), 0, true);
      const gauge = metrics?.subscriptionStarted(caller?.transport ?? 'ws');
      const variables = variablesFor(primary, operation.variables);
      const use = useOf(generation);
      const subscription = { operation, session } as LiveSubscription;
      const ended = () => {
        gauge?.();
        release();
        use.subscriptions.delete(subscription);
        retireIfUnused(generation);
      };
      // Passed through: each event is the answer, so no per-event execution (nor its async step).
      if (operation.plan.passesThrough) {
        subscription.upstream = upstream.subscribe(primary, url, variables, session, maxBufferedEvents, asResult, ended);
        use.subscriptions.add(subscription);
        return subscription.upstream.iterator as PushIterator<ExecutionResult>;
      }
      const perEvent: RouterOperation = { ...operation, plan: operation.plan.perEvent! };
      const events = upstream.subscribe(primary, url, variables, session, maxBufferedEvents, (event) => event, ended);
      subscription.upstream = events;
      use.subscriptions.add(subscription);
      return mapAsync(events.iterator, (event) => {
        // The primary fetch answers with this event; every other subgraph is fetched as usual, with the latest token.
        const fromEvent: GraphQLDataSource = { process: async () => event };
        const deliver = () => run(perEvent, { ...generation.dataSources, [primary.serviceName]: fromEvent }, session);
        return tracer ? inSpan(tracer, `subscription event ${nameOf(operation) ?? 'anonymous'}`, { kind: SpanKind.PRODUCER }, deliver) : deliver();
      });
    },
    swap(next) {
      current = next;
      useOf(next);
      let kept = 0;
      let ended = 0;
      for (const [generation, use] of [...uses]) {
        if (generation === next) continue;
        for (const live of [...use.subscriptions]) {
          const reasons = refusalOn(next, live);
          if (!reasons) {
            kept++;
            continue;
          }
          ended++;
          live.upstream.end(supergraphChanged(reasons));
        }
        retireIfUnused(generation);
      }
      if (kept || ended) logger.info({ supergraph: next.id, kept, ended }, 'live subscriptions checked against the new supergraph');
      return { kept, ended };
    },
    stats: () => upstream.stats(),
    close: () => upstream.close(),
  };
}
