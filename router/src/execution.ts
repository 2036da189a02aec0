import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { buildOperationContext, executeQueryPlan, type GraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlan, type QueryPlanSelectionNode, type ResponsePath, type SubscriptionNode } from '@apollo/query-planner';
import { LRUCache } from 'lru-cache';
import {
  getOperationAST, GraphQLError, parse, print, type DocumentNode, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import { compileResponseShape, isObject, own, satisfiesTypeCondition, type ResponseShape } from './response-shape.ts';

/**
 * Query plans, made by Apollo's query planner and run by the router itself: fetches in the plan's
 * order, entity representations, merging and error paths as @apollo/gateway's `executeQueryPlan`
 * does them, and the response shaped by a shape compiled once per operation (response-shape.ts)
 * rather than rebuilt and walked through the federation model on every request. A plan this
 * executor does not run (`@defer`, data rewrites of `@interfaceObject`/`@fromContext`, introspection)
 * goes to the gateway's own `executeQueryPlan`, so every operation the gateway answers is answered.
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
}

export interface PlanExecution {
  /** The API schema clients validate against. */
  schema: GraphQLSchema;
  /** The supergraph it plans over. */
  supergraphSdl: string;
  /** The plan and shape of an operation, cached by `key` (the operation's name with its text or a hash of it). */
  prepare(key: string, document: DocumentNode, operationName: string | null | undefined): PreparedOperation;
  execute(prepared: PreparedOperation, services: Services, request: ExecutionRequest): Promise<ExecutionResult>;
}

export function createPlanExecution(supergraphSdl: string, { planCacheSize = 1_000 } = {}): PlanExecution {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchema: Schema = supergraph.apiSchema();
  const schema = apiSchema.toGraphQLJSSchema();
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const planner = new QueryPlanner(supergraph);
  // A hit only moves the entry: no re-insertion of the request's fresh key string into a long-lived map.
  const prepared = new LRUCache<string, PreparedOperation>({ max: planCacheSize });

  return {
    schema,
    supergraphSdl,
    prepare(key, document, operationName) {
      let operation = prepared.get(key);
      if (!operation) {
        const plan = planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName: operationName ?? undefined }));
        const shape = !plan.node || runsHere(plan.node) ? compileResponseShape(schema, document, operationName) : undefined;
        operation = { plan, shape, document, operationName: operationName ?? undefined };
        if (plan.node?.kind === 'Subscription') {
          const { primary, rest } = plan.node;
          operation.perEvent = { ...operation, plan: { kind: 'QueryPlan', node: rest ? { kind: 'Sequence', nodes: [primary, rest] } : primary } };
          operation.passesThrough = passesThrough(plan.node, getOperationAST(document, operationName)!);
        }
        prepared.set(key, operation);
      }
      return operation;
    },
    async execute(operation, services, request) {
      if (!operation.shape) {
        operation.operationContext ??= buildOperationContext({ schema, operationDocument: operation.document, operationName: operation.operationName });
        // The gateway's executor reads these of Apollo Server's request context, and hands it to the data sources.
        const requestContext = { request: { variables: request.variables }, context: request.context, metrics: {} } as unknown as GatewayRequestContext;
        return executeQueryPlan(operation.plan, services, requestContext, operation.operationContext, supergraphSchema, apiSchema);
      }
      const run: Run = { services, request, supergraphSchema, data: {}, errors: [] };
      const root = operation.plan.node;
      if (root?.kind === 'Subscription') throw new Error('A subscription plan runs once per event: execute its `perEvent` plan');
      if (root) await executeNode(run, root, { path: [], data: run.data });
      let shaped: ReturnType<ResponseShape['apply']>;
      try {
        shaped = operation.shape.apply(run.data, request.variables);
      } catch (error) {
        return { errors: [new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error instanceof Error ? error : undefined })] };
      }
      // As the gateway answers: values the schema does not allow are reported only when nothing failed before.
      if (!run.errors.length && shaped.errors.length) return { data: shaped.data, extensions: { valueCompletion: shaped.errors } };
      return run.errors.length ? { errors: run.errors, data: shaped.data } : { data: shaped.data };
    },
  };
}

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

interface Run {
  services: Services;
  request: ExecutionRequest;
  supergraphSchema: GraphQLSchema;
  /** The merged answers of every fetch so far, before shaping. */
  data: Record<string, unknown>;
  errors: GraphQLError[];
}

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
      return;
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

/**
 * Whether each event of the subscription is already the answer: no other subgraph to fetch, and the
 * primary fetch selects exactly what the client did (no fragments, directives or rewrites to apply).
 * The subgraph then executed the client's very selection.
 */
function passesThrough({ primary, rest }: SubscriptionNode, operation: OperationDefinitionNode): boolean {
  return !rest && !primary.requires && !primary.inputRewrites?.length && !primary.outputRewrites?.length
    && print(operation.selectionSet) === print(getOperationAST(parse(primary.operation))!.selectionSet);
}
