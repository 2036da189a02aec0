import type { Logger } from '@shopgraph/core/log';
import { createHash } from 'node:crypto';
import { Kind, TypeInfo, visit, visitWithTypeInfo, type ASTNode, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { PreparedOperation } from './execution.ts';
import type { OperationUsage, UsageReport } from './registry-client.ts';

/**
 * Usage reporting: which operations, and so which schema coordinates, each client (its
 * `apollographql-client-name` / `-version`) runs. Requests are counted in memory, per client,
 * version and document, and sent in one report per interval, off the request path; what a document
 * selects is worked out once per prepared operation, not per request. Memory is bounded: past
 * `maxKeys` distinct keys in a window, new ones are counted as dropped, not recorded.
 */

/** What a request tells the recorder. */
export interface UsageRecorder {
  record(operation: UsedOperation, clientName: string | undefined, clientVersion: string | undefined, failed: boolean): void;
}

/** The parts of a prepared operation usage reads. */
export interface UsedOperation {
  query: string;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  plan: PreparedOperation;
  generation: { schema: GraphQLSchema };
}

interface DocumentUsage {
  documentId: string;
  operationName: string | null;
  fields: readonly string[];
  /** `documentId` and operation name, the per-document part of a window key. */
  key: string;
}

interface Entry extends OperationUsage {
  count: number;
  errors: number;
}

/** The fragments an operation uses, transitively. */
function fragmentsOf(document: DocumentNode, root: ASTNode): FragmentDefinitionNode[] {
  const byName = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const used = new Map<string, FragmentDefinitionNode>();
  const pending: ASTNode[] = [root];
  while (pending.length) {
    visit(pending.pop()!, {
      FragmentSpread(spread) {
        const fragment = byName.get(spread.name.value);
        if (fragment && !used.has(fragment.name.value)) {
          used.set(fragment.name.value, fragment);
          pending.push(fragment);
        }
      },
    });
  }
  return [...used.values()];
}

/** The schema coordinates (`Type.field`) an operation selects, sorted; `__typename` and introspection left out. */
export function fieldCoordinates(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const coordinates = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Field(node) {
      const parent = typeInfo.getParentType();
      if (parent && !node.name.value.startsWith('__')) coordinates.add(`${parent.name}.${node.name.value}`);
    },
  });
  for (const root of [operation, ...fragmentsOf(document, operation)]) visit(root, visitor);
  return [...coordinates].sort();
}

const documents = new WeakMap<PreparedOperation, DocumentUsage>();

/** Worked out once per prepared operation (its plan-cache entry: one text, one operation name). */
function documentUsage(used: UsedOperation): DocumentUsage {
  let usage = documents.get(used.plan);
  if (!usage) {
    const documentId = createHash('sha256').update(used.query).digest('hex');
    const operationName = used.operationName ?? used.operation.name?.value ?? null;
    usage = { documentId, operationName, fields: fieldCoordinates(used.generation.schema, used.document, used.operation), key: `${documentId}\u0000${operationName ?? ''}` };
    documents.set(used.plan, usage);
  }
  return usage;
}

export interface UsageReporterOptions {
  /** Sends one report (the registry's `reportUsage`); a rejection is retried once. */
  send(report: UsageReport): Promise<void>;
  intervalMs: number;
  logger: Logger;
  /** Distinct (client, version, document) keys one window may hold. */
  maxKeys?: number;
  /** Wait before the one retry of a failed report. */
  retryDelayMs?: number;
}

export class UsageReporter implements UsageRecorder {
  readonly #options: UsageReporterOptions;
  readonly #maxKeys: number;
  readonly #timer: NodeJS.Timeout;
  #window = new Map<string, Entry>();
  #windowStart = new Date();
  #dropped = 0;
  #sending: Promise<void> | undefined;

  constructor(options: UsageReporterOptions) {
    this.#options = options;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#timer = setInterval(() => void this.flush(), options.intervalMs);
    this.#timer.unref();
  }

  record(operation: UsedOperation, clientName = 'unknown', clientVersion = 'unknown', failed: boolean): void {
    const document = documentUsage(operation);
    const key = `${clientName}\u0000${clientVersion}\u0000${document.key}`;
    let entry = this.#window.get(key);
    if (!entry) {
      if (this.#window.size >= this.#maxKeys) {
        this.#dropped++;
        return;
      }
      entry = { clientName, clientVersion, operationName: document.operationName, documentId: document.documentId, count: 0, errors: 0, fields: document.fields };
      this.#window.set(key, entry);
    }
    entry.count++;
    if (failed) entry.errors++;
  }

  /** Sends what was recorded since the last report (unless one is still being sent: it then waits for the next). */
  flush(): Promise<void> {
    if (this.#sending) return this.#sending;
    const operations = [...this.#window.values()];
    const windowStart = this.#windowStart;
    const dropped = this.#dropped;
    this.#window = new Map();
    this.#windowStart = new Date();
    this.#dropped = 0;
    if (dropped) this.#options.logger.warn({ dropped, maxKeys: this.#maxKeys }, 'usage: requests not recorded (too many distinct clients and operations in one window)');
    if (!operations.length) return Promise.resolve();
    const report: UsageReport = { windowStart: windowStart.toISOString(), windowEnd: this.#windowStart.toISOString(), operations };
    this.#sending = this.#send(report).finally(() => (this.#sending = undefined));
    return this.#sending;
  }

  /** Stops the timer and sends what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sending;
    await this.flush();
  }

  async #send(report: UsageReport): Promise<void> {
    try {
      await this.#options.send(report);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, this.#options.retryDelayMs ?? 1_000).unref());
      try {
        await this.#options.send(report);
      } catch (error) {
        const requests = report.operations.reduce((n, o) => n + o.count, 0);
        this.#options.logger.warn({ err: error, operations: report.operations.length, requests }, 'usage report dropped: sending failed twice');
      }
    }
  }
}
