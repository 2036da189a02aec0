import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { buildOperationContext, executeQueryPlan, type GraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import {
  QueryPlanner, type ConditionNode, type DeferNode, type FetchNode, type PlanNode, type QueryPlan, type QueryPlanSelectionNode, type ResponsePath, type SubscriptionNode,
} from '@apollo/query-planner';
import { tokenCount, type CacheStats } from '@shopgraph/core/operation';
import { LRUCache } from 'lru-cache';
import {
  getOperationAST, GraphQLError, parse, print, type DocumentNode, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import { clientLabel, hasDefer, labelDefers, type ClientLabel } from './defer.ts';
import {
  compileIncrementalShape, compileResponseShape, isObject, own, satisfiesTypeCondition, type DeferPart, type IncrementalShape, type ResponseShape,
} from './response-shape.ts';

/**
 * Query plans, made by Apollo's query planner and run by the router itself: fetches in the plan's
 * order, entity representations, merging and error paths as @apollo/gateway's `executeQueryPlan`
 * does them, and the response shaped by a shape compiled once per operation (response-shape.ts)
 * rather than rebuilt and walked through the federation model on every request. A plan this
 * executor does not run (data rewrites of `@interfaceObject`/`@fromContext`, introspection) goes to
 * the gateway's own `executeQueryPlan`, so every operation the gateway answers is answered.
 *
 * `@defer`: `execute` answers an operation whole, planned as if it had none. `executeIncremental`
 * runs a query's plan made with `@defer` support (DeferNodes), compiled once per operation when first
 * asked for: the primary part, its payload, then each deferred part as soon as the fetches it depends
 * on are done (independent ones in parallel), each payload once its parent's is out.
 */

/** The request context @apollo/gateway's executeQueryPlan reads (built only for the plans left to it). */
type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];
type OperationContext = ReturnType<typeof buildOperationContext>;
type Services = Readonly<Record<string, GraphQLDataSource>>;

/** What one run of an operation needs: the client's variables, and the context its data sources see (who is calling). */
export interface ExecutionRequest {
  variables: Record<string, unknown> | undefined;
  context: object;
}

export interface PreparedOperation {
  plan: QueryPlan;
  /** Set when the router runs the plan itself; unset: the gateway's executeQueryPlan does. */
  shape: ResponseShape | undefined;
  document: DocumentNode;
  operationName: string | undefined;
  /** For the gateway's executor, built when first needed. */
  operationContext?: OperationContext;
  /** A subscription's plan for each event, `Sequence [primary, rest]` (its primary fetch answered by the event). */
  perEvent?: PreparedOperation;
  /** A subscription whose every event is already the answer (see `passesThrough`): no per-event execution. */
  passesThrough?: boolean;
  /**
   * Set when the operation has a `@defer` (other than `@defer(if: false)`). `incremental`: how a query
   * is delivered incrementally, compiled when first asked for; null when it is answered whole (a
   * mutation, or a plan or shape this executor does not run).
   */
  defer?: { incremental?: IncrementalOperation | null };
}

/** A query with `@defer`, as `executeIncremental` runs it. */
interface IncrementalOperation {
  /** Planned with `@defer` support, from the labelled document (defer.ts). */
  plan: QueryPlan;
  shape: IncrementalShape;
  /** The client's label of each part, by its label in the plan. */
  labels: ReadonlyMap<string, ClientLabel>;
}

/** The first payload of an incremental delivery: the result without the deferred parts. */
export interface InitialPayload extends ExecutionResult {
  hasNext: boolean;
}

/** A later payload: deferred parts (none in a last `{ hasNext: false }`). */
export interface SubsequentPayload {
  incremental?: IncrementalItem[];
  hasNext: boolean;
}

/** One deferred fragment's data at one place in the response (`@defer`, as of the 2022-08-24 proposal that Apollo Client speaks). */
export interface IncrementalItem {
  data: Record<string, unknown> | null;
  path: ResponsePath;
  label?: string;
  errors?: GraphQLError[];
  extensions?: Record<string, unknown>;
}

export type IncrementalPayload = InitialPayload | SubsequentPayload;

export interface PlanExecution {
  /** The API schema clients validate against. */
  schema: GraphQLSchema;
  /** The supergraph it plans over. */
  supergraphSdl: string;
  /** The plan and shape of an operation, cached by `key` (the operation's name with its text or a hash of it). */
  prepare(key: string, document: DocumentNode, operationName: string | null | undefined): PreparedOperation;
  execute(prepared: PreparedOperation, services: Services, request: ExecutionRequest): Promise<ExecutionResult>;
  /**
   * Runs a query with `@defer`, handing each payload to `emit` as soon as it may go out: first the
   * result without the deferred parts, then the deferred parts. Any other operation comes whole, in
   * one payload with `hasNext: false`. Settles once the last payload is emitted.
   */
  executeIncremental(prepared: PreparedOperation, services: Services, request: ExecutionRequest, emit: (payload: IncrementalPayload) => void): Promise<void>;
  /** The plan cache's size (metrics, tests). */
  cacheStats(): CacheStats;
}

/**
 * What a cached plan holds on to, estimated from its operation: the key's text (UTF-16, padding
 * and all) and, per token of the document's AST (comments are not in the plan), the plan's share
 * (each fetch's operation text and parsed document, the response shape), plus a fixed overhead.
 */
const PLAN_TOKEN_BYTES = 400;
const planBytes = (key: string, document: DocumentNode) => key.length * 2 + tokenCount(document).ast * PLAN_TOKEN_BYTES + 4096;

export function createPlanExecution(supergraphSdl: string, { planCacheBytes = 64 * 1024 * 1024 } = {}): PlanExecution {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchema: Schema = supergraph.apiSchema();
  // With `@defer`, which the API schema of a supergraph leaves out (a built-in of federation's schemas).
  const schema = apiSchema.toGraphQLJSSchema({ includeDefer: true });
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const planner = new QueryPlanner(supergraph);
  // Its own query graph: built when a first operation is delivered incrementally.
  let deferPlanner: QueryPlanner | undefined;
  // A hit only moves the entry: no re-insertion of the request's fresh key string into a long-lived map.
  // Bounded in bytes, not entries: many distinct large (legal) documents must not grow memory.
  const prepared = new LRUCache<string, PreparedOperation>({ maxSize: planCacheBytes });

  const execute = async (operation: PreparedOperation, services: Services, request: ExecutionRequest): Promise<ExecutionResult> => {
    if (!operation.shape) {
      operation.operationContext ??= buildOperationContext({ schema, operationDocument: operation.document, operationName: operation.operationName });
      // The gateway's executor reads these of Apollo Server's request context, and hands it to the data sources.
      const requestContext = { request: { variables: request.variables }, context: request.context, metrics: {} } as unknown as GatewayRequestContext;
      return executeQueryPlan(operation.plan, services, requestContext, operation.operationContext, supergraphSchema, apiSchema);
    }
    const run = newRun(services, request, supergraphSchema, {}, undefined, undefined);
    const root = operation.plan.node;
    if (root?.kind === 'Subscription') throw new Error('A subscription plan runs once per event: execute its `perEvent` plan');
    if (root) await executeNode(run, root, { path: [], data: run.data });
    let shaped: ReturnType<ResponseShape['apply']>;
    try {
      shaped = operation.shape.apply(run.data, request.variables);
    } catch (error) {
      return { errors: [shapingError(error)] };
    }
    // As the gateway answers: values the schema does not allow are reported only when nothing failed before.
    if (!run.errors.length && shaped.errors.length) return { data: shaped.data, extensions: { valueCompletion: shaped.errors } };
    return run.errors.length ? { errors: run.errors, data: shaped.data } : { data: shaped.data };
  };

  /** A query's plan with `@defer` support and its incremental shape; null when it is answered whole instead. */
  const compileIncremental = ({ document, operationName }: PreparedOperation): IncrementalOperation | null => {
    if (getOperationAST(document, operationName)?.operation !== 'query') return null;
    const labelled = labelDefers(document, operationName);
    if (!labelled) return null;
    const shape = compileIncrementalShape(schema, labelled.document, operationName);
    if (!shape) return null;
    deferPlanner ??= new QueryPlanner(supergraph, { incrementalDelivery: { enableDefer: true } });
    let plan: QueryPlan;
    try {
      plan = deferPlanner.buildQueryPlan(operationFromDocument(apiSchema, labelled.document, { operationName }));
    } catch {
      return null; // the same operation planned without @defer is answered whole
    }
    return plan.node && (plan.node.kind === 'Subscription' || !runsIncrementally(plan.node)) ? null : { plan, shape, labels: labelled.labels };
  };

  return {
    schema,
    supergraphSdl,
    prepare(key, document, operationName) {
      let operation = prepared.get(key);
      if (!operation) {
        const plan = planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName: operationName ?? undefined }));
        const shape = !plan.node || runsHere(plan.node) ? compileResponseShape(schema, document, operationName) : undefined;
        operation = { plan, shape, document, operationName: operationName ?? undefined };
        if (hasDefer(document, operationName)) operation.defer = {};
        if (plan.node?.kind === 'Subscription') {
          const { primary, rest } = plan.node;
          operation.perEvent = { ...operation, plan: { kind: 'QueryPlan', node: rest ? { kind: 'Sequence', nodes: [primary, rest] } : primary } };
          operation.passesThrough = passesThrough(plan.node, getOperationAST(document, operationName)!);
        }
        prepared.set(key, operation, { size: planBytes(key, document) });
      }
      return operation;
    },
    execute,
    async executeIncremental(operation, services, request, emit) {
      const incremental = operation.defer && (operation.defer.incremental === undefined ? (operation.defer.incremental = compileIncremental(operation)) : operation.defer.incremental);
      if (!incremental) return emit({ ...(await execute(operation, services, request)), hasNext: false });
      await new IncrementalRun(incremental, services, request, supergraphSchema, emit).run();
    },
    cacheStats: () => ({ entries: prepared.size, bytes: prepared.calculatedSize, maxBytes: planCacheBytes }),
  };
}

/** A response that cannot be shaped (a subgraph answered what the schema does not allow). */
const shapingError = (error: unknown): GraphQLError =>
  new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error instanceof Error ? error : undefined });

const asGraphQLError = (error: unknown): GraphQLError => (error instanceof GraphQLError ? error : shapingError(error));

/** Whether this executor runs every node of a plan (else the gateway runs the whole plan); for a subscription, its per-event plan. */
function runsHere(node: PlanNode | QueryPlan['node']): boolean {
  switch (node?.kind) {
    case 'Subscription':
      return runsHere(node.primary) && (!node.rest || runsHere(node.rest));
    case 'Sequence':
    case 'Parallel':
      return node.nodes.every(runsHere);
    case 'Flatten':
      return runsHere(node.node);
    case 'Fetch':
      return !node.inputRewrites?.length && !node.outputRewrites?.length && !node.contextRewrites?.length;
    default:
      return false;
  }
}

/** Whether this executor runs a plan made with `@defer` support: DeferNodes at its root and as deferred nodes, conditions anywhere. */
function runsIncrementally(node: PlanNode): boolean {
  switch (node.kind) {
    case 'Condition':
      return (!node.ifClause || runsIncrementally(node.ifClause)) && (!node.elseClause || runsIncrementally(node.elseClause));
    case 'Defer':
      return (!node.primary.node || runsWithConditions(node.primary.node)) && node.deferred.every((deferred) => !deferred.node || runsIncrementally(deferred.node));
    default:
      return runsWithConditions(node);
  }
}

/** `runsHere`, with condition nodes (`@skip`/`@include`, `@defer(if:)`): only in plans run incrementally, which know the variables' defaults. */
function runsWithConditions(node: PlanNode): boolean {
  switch (node.kind) {
    case 'Condition':
      return (!node.ifClause || runsWithConditions(node.ifClause)) && (!node.elseClause || runsWithConditions(node.elseClause));
    case 'Sequence':
    case 'Parallel':
      return node.nodes.every(runsWithConditions);
    case 'Flatten':
      return runsWithConditions(node.node);
    default:
      return runsHere(node);
  }
}

interface Run {
  services: Services;
  request: ExecutionRequest;
  supergraphSchema: GraphQLSchema;
  /** The merged answers of every fetch so far, before shaping. */
  data: Record<string, unknown>;
  errors: GraphQLError[];
  /** Incremental runs: the variables with their defaults, for condition nodes. */
  variables: Record<string, unknown> | undefined;
  /** Incremental runs: told of each fetch done that deferred parts may depend on (by its `id`). */
  fetched: ((id: string) => void) | undefined;
}

/** Every run built by this one literal: one hidden class, so the executor's property accesses stay monomorphic. */
const newRun = (services: Services, request: ExecutionRequest, supergraphSchema: GraphQLSchema, data: Record<string, unknown>, variables: Run['variables'], fetched: Run['fetched']): Run =>
  ({ services, request, supergraphSchema, data, errors: [], variables, fetched });

interface Cursor {
  path: ResponsePath;
  /** The object, or flattened list of objects, the node's fetches are for. */
  data: unknown;
}

async function executeNode(run: Run, node: PlanNode, cursor: Cursor): Promise<void> {
  switch (node.kind) {
    case 'Sequence':
      for (const child of node.nodes) await executeNode(run, child, cursor);
      return;
    case 'Parallel':
      await Promise.all(node.nodes.map((child) => executeNode(run, child, cursor)));
      return;
    case 'Flatten': {
      const data = flattenAt(cursor.data, node.path, 0);
      if (data !== undefined && data !== null) await executeNode(run, node.node, { path: [...cursor.path, ...node.path], data });
      return;
    }
    case 'Fetch':
      try {
        await executeFetch(run, node, cursor);
      } catch (error) {
        run.errors.push(error as GraphQLError);
      }
      if (run.fetched && node.id !== undefined) run.fetched(node.id);
      return;
    case 'Condition': {
      const clause = conditionHolds(run, node) ? node.ifClause : node.elseClause;
      if (clause) await executeNode(run, clause, cursor);
      return;
    }
    default:
      throw new Error(`Plan node ${node.kind} is not run by this executor`);
  }
}

/** The values at `path` ("@" steps into each list element), one flat list of them. */
function flattenAt(value: unknown, path: ResponsePath, from: number): unknown {
  if (from === path.length || value === undefined || value === null) return value;
  const key = path[from]!;
  if (key === '@') {
    if (!Array.isArray(value)) throw new Error(`Expected a list at "@" of ${path.join('.')}`);
    const flat: unknown[] = [];
    for (const element of value) {
      const inner = flattenAt(element, path, from + 1);
      if (Array.isArray(inner)) for (const item of inner) flat.push(item);
      else flat.push(inner);
    }
    return flat;
  }
  if (Array.isArray(value)) throw new Error(`Unexpected array in result for path element ${key}`);
  return flattenAt(own(value as Record<string, unknown>, String(key)), path, from + 1);
}

async function executeFetch(run: Run, fetch: FetchNode, cursor: Cursor): Promise<void> {
  const service = run.services[fetch.serviceName];
  if (!service) throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
  const entities = (Array.isArray(cursor.data) ? cursor.data.filter((entity) => entity !== null && entity !== undefined) : [cursor.data]) as Array<Record<string, unknown>>;
  if (!entities.length) return;
  const variables = variablesFor(fetch, run.request.variables);

  if (!fetch.requires) {
    const data = await send(run, service, fetch, cursor, variables);
    if (data) for (const entity of entities) deepMerge(entity, data);
    return;
  }
  const representations: Array<Record<string, unknown>> = [];
  const targets: Array<Record<string, unknown>> = [];
  for (const entity of entities) {
    const representation = select(run.supergraphSchema, entity, fetch.requires);
    if (representation?.['__typename']) {
      representations.push(representation);
      targets.push(entity);
    }
  }
  if (!representations.length) return;
  if ('representations' in variables) throw new Error('Variables cannot contain key "representations"');
  variables['representations'] = representations;
  const data = await send(run, service, fetch, cursor, variables);
  if (!data) return;
  const received = data['_entities'];
  if (!Array.isArray(received)) throw new Error('Expected "data._entities" in response to be an array');
  if (received.length !== representations.length) throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
  for (let i = 0; i < received.length; i++) {
    const entity = received[i] as Record<string, unknown> | null;
    if (entity && !entity['__typename']) entity['__typename'] = targets[i]!['__typename'];
    deepMerge(targets[i]!, entity);
  }
}

/** The client's variables a fetch uses (those it gave, and not undefined). */
export function variablesFor(fetch: FetchNode, given: Record<string, unknown> | undefined): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of fetch.variableUsages ?? []) if (given && Object.hasOwn(given, name) && given[name] !== undefined) picked[name] = given[name];
  return picked;
}

async function send(run: Run, service: GraphQLDataSource, fetch: FetchNode, cursor: Cursor, variables: Record<string, unknown>): Promise<Record<string, unknown> | null | undefined> {
  const response = await service.process({
    kind: 'incoming operation', // GraphQLDataSourceRequestKind.INCOMING_OPERATION (a TypeScript enum the gateway does not export)
    request: { query: fetch.operation, variables, operationName: fetch.operationName },
    context: run.request.context,
    document: fetch.operationDocumentNode,
    pathInIncomingRequest: cursor.path,
  } as unknown as GraphQLDataSourceProcessOptions);
  if (response.errors) {
    let entityPaths: ResponsePath[] | undefined;
    for (const error of response.errors) {
      const at = error.path;
      let path: ResponsePath | undefined;
      if (fetch.requires && typeof at?.[1] === 'number') {
        // ["_entities", i, ...]: the i-th entity's place in the response.
        entityPaths ??= pathsAt(cursor.path, 0, run.data, [], []);
        path = [...(entityPaths[at[1]] ?? []), ...at.slice(2)];
      } else if (at) {
        path = [...cursor.path, ...at];
      }
      run.errors.push(subgraphError(error, fetch.serviceName, path));
    }
  }
  return response.data;
}

/** A subgraph's error as the gateway reports it: its path in the client's response, `serviceName`, and DOWNSTREAM_SERVICE_ERROR when it has no code. */
function subgraphError(error: GraphQLFormattedError, serviceName: string, path: ResponsePath | undefined): GraphQLError {
  const extensions: Record<string, unknown> = { ...error.extensions, serviceName };
  extensions['code'] ||= 'DOWNSTREAM_SERVICE_ERROR';
  return new GraphQLError(error.message || `Error while fetching subquery from service "${serviceName}"`, {
    originalError: error as unknown as Error,
    path,
    extensions,
  });
}

/** Every concrete path (list indexes filled in) of the non-null values at `path` in `data`. */
function pathsAt(path: ResponsePath, from: number, data: unknown, prefix: ResponsePath, out: ResponsePath[]): ResponsePath[] {
  if (data === null || data === undefined) return out;
  if (from === path.length) {
    out.push([...prefix]);
    return out;
  }
  const key = path[from]!;
  if (key === '@' || Array.isArray(data)) {
    if (!Array.isArray(data)) throw new Error(`Expected a list at "@" of ${path.join('.')}`);
    const next = key === '@' ? from + 1 : from;
    data.forEach((element, index) => {
      prefix.push(index);
      pathsAt(path, next, element, prefix, out);
      prefix.pop();
    });
  } else if (Object.hasOwn(data as object, key)) {
    prefix.push(key);
    pathsAt(path, from + 1, (data as Record<string, unknown>)[key], prefix, out);
    prefix.pop();
  }
  return out;
}

/** An entity's representation: the fields `requires` selects; null when one is missing. */
function select(schema: GraphQLSchema, source: unknown, selections: readonly QueryPlanSelectionNode[]): Record<string, unknown> | null {
  if (source === null || source === undefined) return null;
  const object = source as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const selection of selections) {
    if (selection.kind === 'Field') {
      const name = selection.alias ?? selection.name;
      const value = own(object, name);
      if (value === undefined) return null;
      const sub = selection.selections;
      result[name] = Array.isArray(value) ? value.map((item: unknown) => (sub ? select(schema, item, sub) : item)) : sub ? select(schema, value, sub) : value;
    } else if (selection.typeCondition && isObjectOfType(schema, object, selection.typeCondition)) {
      deepMerge(result, select(schema, object, selection.selections));
    }
  }
  return result;
}

function isObjectOfType(schema: GraphQLSchema, object: Record<string, unknown>, typeCondition: string): boolean {
  const typename = object['__typename'];
  const condition = schema.getType(typeCondition);
  return typeof typename === 'string' && !!condition && satisfiesTypeCondition(schema, typename, condition);
}


/** Merges a fetch's answer into what earlier fetches answered: objects key by key, same-length lists element by element. */
function deepMerge(target: Record<string, unknown>, source: unknown): void {
  if (!isObject(source)) return;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (value === undefined) continue;
    const current = own(target, key);
    if (current && isObject(value)) {
      deepMerge(current as Record<string, unknown>, value);
    } else if (Array.isArray(value) && Array.isArray(current) && value.length === current.length) {
      for (let i = 0; i < value.length; i++) {
        if (isObject(current[i]) && isObject(value[i])) deepMerge(current[i] as Record<string, unknown>, value[i]);
        else current[i] = value[i];
      }
    } else if (key === '__proto__') {
      Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
    } else {
      target[key] = value;
    }
  }
}

/** A condition node's variable, in the variables with their defaults (response-shape.ts `IncrementalShape.variables`). */
function conditionHolds(run: Run, { condition }: ConditionNode): boolean {
  const value = run.variables?.[condition];
  if (typeof value !== 'boolean') throw new Error(`Expected a Boolean value for $${condition} (a condition of the plan)`);
  return value;
}

/** A promise resolved once, from outside. */
class Signal<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;

  constructor() {
    this.promise = new Promise<T>((resolve) => (this.resolve = resolve));
  }
}

const signalOf = <K, T>(signals: Map<K, Signal<T>>, key: K): Signal<T> => {
  let signal = signals.get(key);
  if (!signal) signals.set(key, (signal = new Signal<T>()));
  return signal;
};

/**
 * One incremental delivery of a query with `@defer`. The plan's DeferNodes (Apollo's query planner,
 * see its QueryPlan.ts) run as Apollo Router runs them: the primary node, and each deferred node once
 * the fetches it `depends` on are done (or the primary node is, should one of them never run), all
 * over the same merged answers, each deferred part's fetch errors its own. Payloads follow the
 * operation's `@defer` fragments (response-shape.ts `IncrementalShape`): the initial one once the
 * primary node is done; each deferred fragment's once the nodes fetching for it are, and its parent
 * fragment's payload is out; with one item per object the fragment applies to in what the client
 * has been sent so far (the view). `hasNext` is false on the last payload.
 */
class IncrementalRun {
  readonly #operation: IncrementalOperation;
  readonly #base: Run;
  readonly #emit: (payload: IncrementalPayload) => void;
  readonly #variables: Record<string, unknown>;
  /** The fragments deferred for these variables; those whose payload is yet to go (or be found empty). */
  readonly #deferred: ReadonlySet<DeferPart>;
  readonly #pending: Set<DeferPart>;
  /** By label: the part's data is fetched, with its fetches' errors. */
  readonly #ready = new Map<string, Signal<GraphQLError[]>>();
  /** By part (undefined: the initial payload): its payload is out, or there was none. */
  readonly #settled = new Map<DeferPart | undefined, Signal>();
  /** By fetch id: that fetch is done. */
  readonly #fetched = new Map<string, Signal>();
  /** The response the client has so far (a copy: what was emitted is not changed afterwards). */
  #view: Record<string, unknown> | undefined;
  /** No payload goes out any more (the initial one had no data, or could not be shaped). */
  #closed = false;
  #sent = false;
  #hasNext = false;

  constructor(operation: IncrementalOperation, services: Services, request: ExecutionRequest, supergraphSchema: GraphQLSchema, emit: (payload: IncrementalPayload) => void) {
    this.#operation = operation;
    this.#emit = emit;
    const { shape } = operation;
    this.#variables = shape.variables(request.variables);
    this.#base = newRun(services, request, supergraphSchema, {}, this.#variables, (id) => signalOf(this.#fetched, id).resolve());
    this.#deferred = new Set(shape.parts.filter((part) => shape.isDeferred(part, this.#variables)));
    this.#pending = new Set(this.#deferred);
  }

  async run(): Promise<void> {
    const deliveries = [...this.#deferred].map((part) => this.#deliverWhenReady(part));
    let failure: { error: unknown } | undefined;
    try {
      const root = this.#operation.plan.node as PlanNode | undefined;
      if (root) await this.#runPart(root, this.#base, () => this.#deliverInitial());
      else this.#deliverInitial();
    } catch (error) {
      failure = { error };
      this.#closed = true;
    }
    // Parts that no deferred node fetches for (their data came with their parent's) go out now.
    for (const part of this.#deferred) signalOf(this.#ready, part.label).resolve([]);
    signalOf(this.#settled, undefined).resolve(); // should the initial payload have failed
    await Promise.all(deliveries);
    if (failure) throw failure.error;
  }

  /** Runs a plan node of the part `run` fetches for; `primaryDone` once its own data is fetched (a DeferNode's primary node). */
  async #runPart(node: PlanNode, run: Run, primaryDone: () => void): Promise<void> {
    if (node.kind === 'Condition') {
      const clause = conditionHolds(run, node) ? node.ifClause : node.elseClause;
      if (clause) return this.#runPart(clause, run, primaryDone);
      return primaryDone();
    }
    if (node.kind === 'Defer') return this.#runDefer(node, run, primaryDone);
    await executeNode(run, node, { path: [], data: run.data });
    primaryDone();
  }

  async #runDefer(node: DeferNode, run: Run, primaryDone: () => void): Promise<void> {
    const primary = node.primary.node ? executeNode(run, node.primary.node, { path: [], data: run.data }) : Promise.resolve();
    const primarySettled = primary.then(() => {}, () => {});
    const deferred = node.deferred.map(async ({ depends, label, node: plan }) => {
      await Promise.race([Promise.all(depends.map(({ id }) => signalOf(this.#fetched, id).promise)), primarySettled]);
      // Its own errors; flatten paths are from the root, over the same merged answers.
      const part = newRun(run.services, run.request, run.supergraphSchema, run.data, run.variables, run.fetched);
      const ready = () => {
        if (label !== undefined) signalOf(this.#ready, label).resolve(part.errors);
      };
      if (!plan || this.#closed) return ready();
      try {
        await this.#runPart(plan, part, ready);
      } catch (error) {
        part.errors.push(asGraphQLError(error));
        ready();
      }
    });
    try {
      await primary;
      primaryDone();
    } finally {
      await Promise.all(deferred);
    }
  }

  #send(payload: IncrementalPayload): void {
    this.#sent = true;
    this.#hasNext = payload.hasNext;
    this.#emit(payload);
  }

  #deliverInitial(): void {
    try {
      this.#sendInitial();
    } finally {
      signalOf(this.#settled, undefined).resolve();
    }
  }

  #sendInitial(): void {
    const { data, errors } = this.#base;
    let shaped: ReturnType<IncrementalShape['apply']>;
    try {
      shaped = this.#operation.shape.apply(data, this.#variables);
    } catch (error) {
      this.#closed = true;
      return this.#send({ errors: [shapingError(error)], hasNext: false });
    }
    if (shaped.data) this.#view = structuredClone(shaped.data);
    else this.#closed = true;
    const hasNext = !this.#closed && this.#pending.size > 0;
    // As `execute` answers.
    if (!errors.length && shaped.errors.length) return this.#send({ data: shaped.data, extensions: { valueCompletion: shaped.errors }, hasNext });
    this.#send(errors.length ? { errors, data: shaped.data, hasNext } : { data: shaped.data, hasNext });
  }

  async #deliverWhenReady(part: DeferPart): Promise<void> {
    const errors = await signalOf(this.#ready, part.label).promise;
    let parent = part.parent;
    while (parent && !this.#deferred.has(parent)) parent = parent.parent;
    await signalOf(this.#settled, parent).promise;
    try {
      this.#deliver(part, errors);
    } finally {
      signalOf(this.#settled, part).resolve();
    }
  }

  #deliver(part: DeferPart, errors: GraphQLError[]): void {
    this.#pending.delete(part);
    if (this.#closed || !this.#view || !this.#sent) return;
    const { shape, labels } = this.#operation;
    const targets = shape.targets(part, this.#base.data, this.#view, this.#variables);
    if (!targets.length) {
      if (!this.#pending.size && this.#hasNext) this.#send({ hasNext: false });
      return;
    }
    const label = clientLabel(labels.get(part.label), this.#variables);
    const items = targets.map((target): IncrementalItem & { completion: GraphQLError[] } => {
      try {
        const { data, errors: completion } = shape.applyPart(part, target, this.#variables);
        return { data, path: target.path, ...(label !== undefined ? { label } : {}), completion };
      } catch (error) {
        return { data: null, path: target.path, ...(label !== undefined ? { label } : {}), errors: [shapingError(error)], completion: [] };
      }
    });
    // Each fetch error in the item it is about (else the first).
    for (const error of errors) {
      const item = (error.path && items.find(({ path }) => path.every((key, i) => error.path![i] === key))) || items[0]!;
      (item.errors ??= []).push(error);
    }
    const incremental = items.map(({ completion, ...item }): IncrementalItem => {
      if (!item.errors && completion.length) item.extensions = { valueCompletion: completion };
      if (item.data) mergeAt(this.#view!, item.path, structuredClone(item.data));
      return item;
    });
    this.#send({ incremental, hasNext: this.#pending.size > 0 });
  }
}

/** Merges a deferred part's data into the object at `path` of the client's view. */
function mergeAt(view: Record<string, unknown>, path: ResponsePath, data: Record<string, unknown>): void {
  let target: unknown = view;
  for (const key of path) target = Array.isArray(target) ? target[key as number] : isObject(target) ? own(target, String(key)) : undefined;
  if (isObject(target)) deepMerge(target, data);
}

/**
 * Whether each event of the subscription is already the answer: no other subgraph to fetch, and the
 * primary fetch selects exactly what the client did (no fragments, directives or rewrites to apply).
 * The subgraph then executed the client's very selection.
 */
function passesThrough({ primary, rest }: SubscriptionNode, operation: OperationDefinitionNode): boolean {
  return !rest && !primary.requires && !primary.inputRewrites?.length && !primary.outputRewrites?.length
    && print(operation.selectionSet) === print(getOperationAST(parse(primary.operation))!.selectionSet);
}
