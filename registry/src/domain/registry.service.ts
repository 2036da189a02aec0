import { advisoryLock, type EntityManager, type UserError } from '@shopgraph/kit';
import { parse, type DocumentNode } from 'graphql';
import { ClientOperation, ClientVersion, EventContract, PublishedSubgraph, SchemaVersion, type VersionSummary } from '../entities/index.ts';
import type { ChangeSeverity, SchemaChange } from './api-changes.ts';
import { badInput, BadInputReason } from './bad-input.ts';
import { parseSubgraphSdl, supergraphIdOf, type CompositionMessage } from './composition.ts';
import { canonicalJson, parseEventContracts, type EventContractChange, type EventContractSchema } from './event-contracts.ts';
import { evaluate, type Evaluation, type PublishedState, type SubgraphProposal } from './evaluation.ts';
import { lintSettings, type LintFinding, type LintSeverity } from './lint.ts';
import { parseManifest, selectedCoordinates, validationErrors } from './operations.ts';
import { describeUsage, type CoordinateUsage, type UsageReport, usageRows } from './usage.ts';

export interface Limits {
  maxSdlBytes: number;
  maxManifestOperations: number;
  usageWindowDays: number;
  trustedDocumentsRequired: readonly string[];
}

export interface SubgraphChangeInput {
  name: string;
  sdl?: string | null;
  url?: string | null;
  delete?: boolean | null;
}
export interface EventContractInput {
  type: string;
  topic: string;
  dataVersion: number;
  schema: string;
}
export interface SchemaCheckInput {
  variant: string;
  subgraphs: SubgraphChangeInput[];
  eventContracts?: EventContractInput[] | null;
  lint?: { rule: string; severity: LintSeverity }[] | null;
  usageWindowDays?: number | null;
}
export interface PublishSchemaInput {
  variant: string;
  subgraphs: SubgraphChangeInput[];
  eventContracts?: EventContractInput[] | null;
  author?: string | null;
}

export interface RegisteredOperation {
  client: string;
  version: string;
  name: string | null;
  documentId: string;
}
export interface OperationFailure extends RegisteredOperation {
  errors: string[];
}
export interface CheckedChange extends Omit<SchemaChange, 'usageCoordinates'> {
  safeByUsage: boolean;
  usage: CoordinateUsage | null;
}
export interface SchemaCheck {
  passed: boolean;
  variant: string;
  baseVersion: number | null;
  composition: { errors: CompositionMessage[]; hints: CompositionMessage[] };
  changes: CheckedChange[];
  operations: OperationFailure[];
  operationsChecked: number;
  lint: LintFinding[];
  eventContracts: EventContractChange[];
  usageWindowDays: number;
}

const VARIANT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SUBGRAPH = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const CLIENT = /^[^\s,][^,]{0,99}$/;

/** The registry: what variants have published, and what a proposal would do to them. */
export class RegistryService {
  private readonly em: EntityManager;
  private readonly limits: Limits;
  constructor(em: EntityManager, limits: Limits) {
    this.em = em;
    this.limits = limits;
  }

  /** Checks a proposal against a variant's published state, its clients' operations and usage; stores nothing. */
  async check(input: SchemaCheckInput): Promise<SchemaCheck> {
    const variant = checkName('variant', input.variant, VARIANT);
    const state = await this.publishedState(this.em, variant);
    const proposals = this.proposals(input.subgraphs, state, false);
    const contracts = input.eventContracts ? parseEventContracts(input.eventContracts) : null;
    if (!proposals.length && !contracts) throw badInput(BadInputReason.NOTHING_TO_CHECK, 'Nothing to check: give at least one subgraph or the event contracts.');
    const days = input.usageWindowDays ?? this.limits.usageWindowDays;
    if (!Number.isInteger(days) || days < 1 || days > 90) throw badInput(BadInputReason.INVALID_USAGE_REPORT, 'usageWindowDays must be between 1 and 90.');
    const evaluation = await evaluate(state, proposals, lintSettings(input.lint ?? []), contracts);
    return this.report(this.em, variant, state, evaluation, days);
  }

  /**
   * Records a proposal as the variant's next version: the subgraphs, the supergraph they compose
   * to, the event contracts. One transaction, serialised per variant; a proposal that does not
   * compose is refused and changes nothing. Publishing what is already published makes no version.
   */
  async publish(input: PublishSchemaInput, publishedBy: string): Promise<{ version: SchemaVersion | null; changed: boolean; check: SchemaCheck | null; errors: UserError[] }> {
    const variant = checkName('variant', input.variant, VARIANT);
    const author = input.author?.trim().slice(0, 200) || null;
    return this.em.transactional(async (em) => {
      await advisoryLock(em, `publish:${variant}`);
      const state = await this.publishedState(em, variant);
      const proposals = this.proposals(input.subgraphs, state, true);
      const contracts = input.eventContracts ? parseEventContracts(input.eventContracts) : null;
      if (!proposals.length && !contracts) throw badInput(BadInputReason.NOTHING_TO_CHECK, 'Nothing to publish: give at least one subgraph or the event contracts.');
      if (!proposals.length && !state.latest) throw badInput(BadInputReason.NOTHING_TO_CHECK, `Nothing is published in ${variant} yet: publish its subgraphs first (with the event contracts, if you like).`);
      const evaluation = await evaluate(state, proposals, lintSettings(), contracts);
      const check = await this.report(em, variant, state, evaluation, this.limits.usageWindowDays);
      if (!evaluation.composition.ok) {
        return { version: null, changed: false, check, errors: [{ code: 'COMPOSITION_FAILED', message: `The supergraph does not compose with this change (${evaluation.composition.errors.length} error(s)); nothing was published.` }] };
      }
      const published = new Map(state.subgraphs.map((s) => [s.name, s]));
      const changedSubgraphs = proposals.filter((p) => p.delete || published.get(p.name)?.sdl !== p.sdl || published.get(p.name)?.url !== p.url);
      // eventContractChanges lists differences only: none means the published contracts stand as they are.
      const changedContracts = evaluation.eventContracts ?? [];
      const latest = state.latest ? await em.findOneOrFail(SchemaVersion, { variant, version: state.latest.version }) : null;
      if (latest && !changedSubgraphs.length && !changedContracts.length) return { version: latest, changed: false, check, errors: [] };

      const version = (state.latest?.version ?? 0) + 1;
      const supergraphSdl = evaluation.composition.supergraphSdl!;
      const summary: VersionSummary = {
        subgraphs: changedSubgraphs.map((p) => ({ name: p.name, action: p.delete ? 'DELETED' : 'PUBLISHED', routingUrl: p.delete ? null : p.url })),
        changes: evaluation.changes.map(({ severity, coordinate, message }) => ({ severity, coordinate, message })),
        eventContracts: [...new Set(changedContracts.map((c) => c.type))],
      };
      const created = em.create(SchemaVersion, { id: crypto.randomUUID(), variant, version, publishedBy, author, summary, supergraphId: supergraphIdOf(supergraphSdl), supergraphSdl });
      for (const proposal of changedSubgraphs) {
        if (proposal.delete) {
          await em.nativeDelete(PublishedSubgraph, { variant, name: proposal.name });
          continue;
        }
        const existing = await em.findOne(PublishedSubgraph, { variant, name: proposal.name });
        if (existing) em.assign(existing, { sdl: proposal.sdl, routingUrl: proposal.url, version });
        else em.create(PublishedSubgraph, { id: crypto.randomUUID(), variant, name: proposal.name, sdl: proposal.sdl, routingUrl: proposal.url, version });
      }
      if (contracts) await this.replaceEventContracts(em, variant, contracts);
      await em.flush();
      return { version: created, changed: true, check, errors: [] };
    });
  }

  /** Stores a client version's operation manifest, replacing what that version had. */
  async pushManifest(input: { variant: string; client: string; version: string; manifest: string }, pushedBy: string): Promise<{ client: string; version: string; operations: number }> {
    const variant = checkName('variant', input.variant, VARIANT);
    const client = checkName('client', input.client, CLIENT);
    const clientVersion = checkName('client version', input.version, CLIENT);
    const operations = parseManifest(input.manifest, this.limits.maxManifestOperations);
    await this.em.transactional(async (em) => {
      let row = await em.findOne(ClientVersion, { variant, clientName: client, clientVersion });
      if (row) {
        await em.nativeDelete(ClientOperation, { clientVersion: row.id });
        em.assign(row, { pushedBy, pushedAt: new Date() });
      } else {
        row = em.create(ClientVersion, { id: crypto.randomUUID(), variant, clientName: client, clientVersion, pushedBy });
      }
      for (const operation of operations) {
        em.create(ClientOperation, { clientVersion: row, documentId: operation.id, operationName: operation.name, operationType: operation.type, body: operation.body });
      }
      await em.flush();
    });
    return { client, version: clientVersion, operations: operations.length };
  }

  /** Adds a router's usage report to the per-day counts. */
  async reportUsage(variant: string, report: UsageReport): Promise<void> {
    const rows = usageRows(checkName('variant', variant, VARIANT), report);
    // Batches of 1,000 rows (7 parameters each) stay far below Postgres' 65,535 parameters.
    for (let i = 0; i < rows.length; i += 1000) {
      const batch = rows.slice(i, i + 1000);
      await this.em.execute(
        `insert into field_usage (variant, coordinate, client_name, client_version, day, requests, errors) values ${batch.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
         on conflict (variant, coordinate, client_name, client_version, day)
         do update set requests = field_usage.requests + excluded.requests, errors = field_usage.errors + excluded.errors`,
        batch.flatMap((r) => [r.variant, r.coordinate, r.clientName, r.clientVersion, r.day, r.requests, r.errors]),
      );
    }
  }

  /** The newest supergraph of a variant (its SDL left out when the caller has it already). */
  async routerSupergraph(variant: string, ifNotId: string | null): Promise<{ id: string; sdl: string | null; publishedAt: string } | null> {
    const [latest] = await this.em.execute<{ id: string; sdl: string | null; published_at: Date }[]>(
      `select supergraph_id as id, case when supergraph_id = ? then null else supergraph_sdl end as sdl, published_at
         from schema_version where variant = ? order by version desc limit 1`,
      [ifNotId ?? '', variant],
    );
    return latest ? { id: latest.id, sdl: latest.sdl, publishedAt: new Date(latest.published_at).toISOString() } : null;
  }

  /** Every operation registered for a variant, each document once. */
  async trustedDocuments(variant: string): Promise<{ required: boolean; documents: { id: string; body: string }[] }> {
    const documents = await this.em.execute<{ id: string; body: string }[]>(
      `select distinct on (o.document_id) o.document_id as id, o.body from client_operation o join client_version v on v.id = o.client_version_id where v.variant = ? order by o.document_id`,
      [variant],
    );
    return { required: this.limits.trustedDocumentsRequired.includes(variant), documents };
  }

  versions(variant: string, first: number): Promise<SchemaVersion[]> {
    return this.em.find(SchemaVersion, { variant }, { orderBy: { version: 'desc' }, limit: Math.min(Math.max(first, 1), 100) });
  }

  subgraphs(variant: string, names: string[] | null): Promise<PublishedSubgraph[]> {
    return this.em.find(PublishedSubgraph, names ? { variant, name: { $in: names } } : { variant }, { orderBy: { name: 'asc' } });
  }

  private async publishedState(em: EntityManager, variant: string): Promise<PublishedState> {
    const [latest, subgraphs, contracts] = await Promise.all([
      em.findOne(SchemaVersion, { variant }, { orderBy: { version: 'desc' } }),
      em.find(PublishedSubgraph, { variant }, { orderBy: { name: 'asc' } }),
      em.find(EventContract, { variant }, { orderBy: { type: 'asc' } }),
    ]);
    return {
      latest: latest && { version: latest.version, supergraphSdl: latest.supergraphSdl },
      subgraphs: subgraphs.map((s) => ({ name: s.name, url: s.routingUrl, sdl: s.sdl })),
      eventContracts: contracts.map((c) => ({ type: c.type, topic: c.topic, dataVersion: c.dataVersion, schema: canonicalJson(c.schema) })),
    };
  }

  /** Validates the subgraphs of a check or publish: names, sizes, SDLs that parse, deletions of subgraphs that exist. */
  private proposals(inputs: readonly SubgraphChangeInput[], state: PublishedState, publishing: boolean): SubgraphProposal[] {
    const published = new Map(state.subgraphs.map((s) => [s.name, s]));
    const seen = new Set<string>();
    return inputs.map((input) => {
      const name = checkName('subgraph', input.name, SUBGRAPH);
      if (seen.has(name)) throw badInput(BadInputReason.DUPLICATE_SUBGRAPH, `Subgraph "${name}" is given twice.`);
      seen.add(name);
      if (input.delete) {
        if (!published.has(name)) {
          throw badInput(BadInputReason.UNKNOWN_SUBGRAPH, `Subgraph "${name}" is not published in this variant, so it cannot be deleted; published: ${[...published.keys()].join(', ') || 'none'}.`, { subgraph: name });
        }
        return { name, delete: true };
      }
      if (input.sdl == null || !input.sdl.trim()) throw badInput(BadInputReason.SDL_REQUIRED, `Subgraph "${name}" needs its SDL (or delete: true).`, { subgraph: name });
      const bytes = Buffer.byteLength(input.sdl);
      if (bytes > this.limits.maxSdlBytes) {
        throw badInput(BadInputReason.SDL_TOO_LARGE, `The SDL of subgraph "${name}" is ${bytes} bytes; at most ${this.limits.maxSdlBytes} are accepted.`, { subgraph: name });
      }
      const document = parseSubgraphSdl(name, input.sdl);
      const url = input.url ?? published.get(name)?.url ?? (publishing ? null : `http://${name}.invalid/graphql`);
      if (!url) throw badInput(BadInputReason.ROUTING_URL_REQUIRED, `Subgraph "${name}" is new: give its routing URL.`, { subgraph: name });
      if (!/^https?:\/\/[^\s]+$/.test(url) || !URL.canParse(url)) throw badInput(BadInputReason.INVALID_ROUTING_URL, `The routing URL of subgraph "${name}" is not an http(s) URL: ${url}`, { subgraph: name });
      return { name, delete: false, sdl: input.sdl, document, url };
    });
  }

  private async replaceEventContracts(em: EntityManager, variant: string, contracts: EventContractSchema[]): Promise<void> {
    await em.nativeDelete(EventContract, { variant, type: { $nin: contracts.map((c) => c.type) } });
    const existing = new Map((await em.find(EventContract, { variant })).map((c) => [c.type, c]));
    for (const contract of contracts) {
      const row = existing.get(contract.type);
      if (row) em.assign(row, { topic: contract.topic, dataVersion: contract.dataVersion, schema: contract.schema });
      else em.create(EventContract, { id: crypto.randomUUID(), variant, ...contract });
    }
  }

  /**
   * The check's report: the evaluation plus every registered operation validated against the new
   * API, and, for each change that is not safe, who uses what it changes. A breaking change that
   * no registered operation selects and no traffic in the window reached is safe by usage.
   */
  private async report(em: EntityManager, variant: string, state: PublishedState, evaluation: Evaluation, days: number): Promise<SchemaCheck> {
    const documents = await this.registeredDocuments(em, variant);
    const operations: OperationFailure[] = [];
    if (evaluation.after) {
      for (const { document, users } of documents.values()) {
        const errors = validationErrors(evaluation.after, document);
        if (errors.length) operations.push(...users.map((user) => ({ ...user, errors })));
      }
    }
    const risky = evaluation.changes.filter((c) => c.severity !== 'SAFE' && c.usageCoordinates.length);
    const coordinates = [...new Set(risky.flatMap((c) => c.usageCoordinates))];
    const traffic = coordinates.length ? await this.traffic(em, variant, coordinates, days) : [];
    const selecting = new Map<string, RegisteredOperation[]>();
    if (evaluation.before && coordinates.length) {
      const wanted = new Set(coordinates);
      for (const { document, users } of documents.values()) {
        for (const coordinate of selectedCoordinates(evaluation.before, document)) {
          if (wanted.has(coordinate)) selecting.set(coordinate, [...(selecting.get(coordinate) ?? []), ...users]);
        }
      }
    }
    const changes = evaluation.changes.map(({ usageCoordinates, ...change }): CheckedChange => {
      if (change.severity === 'SAFE' || !usageCoordinates.length) return { ...change, safeByUsage: false, usage: null };
      const usage = describeUsage(usageCoordinates, traffic, usageCoordinates.flatMap((c) => selecting.get(c) ?? []), days);
      return { ...change, safeByUsage: change.severity === 'BREAKING' && usage.requests === 0 && !usage.operations.length, usage };
    });
    const eventContracts = evaluation.eventContracts ?? [];
    const passed =
      evaluation.composition.ok &&
      !changes.some((c) => c.severity === 'BREAKING' && !c.safeByUsage) &&
      !operations.length &&
      !evaluation.lint.some((f) => f.severity === 'ERROR') &&
      !eventContracts.some((c) => c.severity === 'BREAKING');
    return {
      passed,
      variant,
      baseVersion: state.latest?.version ?? null,
      composition: { errors: evaluation.composition.errors, hints: evaluation.composition.hints },
      changes: sortBySeverity(changes),
      operations,
      operationsChecked: evaluation.after ? documents.size : 0,
      lint: evaluation.lint,
      eventContracts: sortBySeverity(eventContracts),
      usageWindowDays: days,
    };
  }

  /** The variant's registered operations, each document parsed once, with every client version that sends it. */
  private async registeredDocuments(em: EntityManager, variant: string): Promise<Map<string, { document: DocumentNode; users: RegisteredOperation[] }>> {
    const rows = await em.execute<{ document_id: string; body: string; operation_name: string | null; client_name: string; client_version: string }[]>(
      `select o.document_id, o.body, o.operation_name, v.client_name, v.client_version from client_operation o join client_version v on v.id = o.client_version_id
        where v.variant = ? order by v.client_name, v.client_version, o.operation_name`,
      [variant],
    );
    const documents = new Map<string, { document: DocumentNode; users: RegisteredOperation[] }>();
    for (const row of rows) {
      let entry = documents.get(row.document_id);
      if (!entry) documents.set(row.document_id, (entry = { document: parse(row.body), users: [] }));
      entry.users.push({ client: row.client_name, version: row.client_version, name: row.operation_name, documentId: row.document_id });
    }
    return documents;
  }

  private traffic(em: EntityManager, variant: string, coordinates: string[], days: number) {
    return em.execute<{ coordinate: string; client_name: string; client_version: string; requests: string }[]>(
      `select coordinate, client_name, client_version, sum(requests) as requests from field_usage
        where variant = ? and coordinate in (${coordinates.map(() => '?').join(', ')}) and day > current_date - ?::int
        group by coordinate, client_name, client_version`,
      [variant, ...coordinates, days],
    );
  }
}

function checkName(what: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw badInput(BadInputReason.INVALID_NAME, `Invalid ${what} name "${value}" (expected ${pattern.source}).`);
  return value;
}

const ORDER: Record<ChangeSeverity, number> = { BREAKING: 0, DANGEROUS: 1, SAFE: 2 };
const sortBySeverity = <T extends { severity: ChangeSeverity }>(items: T[]): T[] => items.toSorted((a, b) => ORDER[a.severity] - ORDER[b.severity]);
