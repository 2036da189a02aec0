import { breakingChanges, type JsonSchema } from '@shopgraph/events/compatibility';
import type { ChangeSeverity } from './api-changes.ts';
import { badInput, BadInputReason } from './bad-input.ts';

/** An event type's contract, as `contractSchemas()` of @shopgraph/events (and its snapshot) gives it. */
export interface EventContractSchema {
  type: string;
  topic: string;
  dataVersion: number;
  schema: JsonSchema;
}

export interface EventContractChange {
  type: string;
  severity: ChangeSeverity;
  message: string;
}

/** Reads the contracts of a check or publish (their schema as JSON text); refuses malformed ones. */
export function parseEventContracts(inputs: readonly { type: string; topic: string; dataVersion: number; schema: string }[]): EventContractSchema[] {
  const seen = new Set<string>();
  return inputs.map(({ type, topic, dataVersion, schema }) => {
    if (!/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/.test(type)) throw badInput(BadInputReason.INVALID_EVENT_CONTRACT, `Event type "${type}" should look like <context>.<aggregate>.<past-tense>.`);
    if (seen.has(type)) throw badInput(BadInputReason.INVALID_EVENT_CONTRACT, `Event type ${type} appears twice.`);
    seen.add(type);
    if (!Number.isInteger(dataVersion) || dataVersion < 1) throw badInput(BadInputReason.INVALID_EVENT_CONTRACT, `${type}: dataVersion must be a positive integer.`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(schema);
    } catch (error) {
      throw badInput(BadInputReason.INVALID_EVENT_CONTRACT, `${type}: the schema is not JSON: ${(error as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badInput(BadInputReason.INVALID_EVENT_CONTRACT, `${type}: the schema must be a JSON Schema object.`);
    return { type, topic, dataVersion, schema: canonicalJson(parsed as JsonSchema) };
  });
}

/**
 * What a change of the contracts does to consumers written against the published ones: the rules
 * of events/test (a published contract is never broken within its dataVersion) as a report.
 */
export function eventContractChanges(published: readonly EventContractSchema[], proposed: readonly EventContractSchema[]): EventContractChange[] {
  const next = new Map(proposed.map((c) => [c.type, c]));
  const before = new Map(published.map((c) => [c.type, c]));
  const changes: EventContractChange[] = [];
  for (const old of published) {
    const now = next.get(old.type);
    if (!now) {
      changes.push({ type: old.type, severity: 'BREAKING', message: `${old.type} was removed, but consumers still read it.` });
      continue;
    }
    if (now.topic !== old.topic) changes.push({ type: old.type, severity: 'BREAKING', message: `${old.type} moved from topic ${old.topic} to ${now.topic}: consumers of ${old.topic} stop receiving it.` });
    if (now.dataVersion < old.dataVersion) {
      changes.push({ type: old.type, severity: 'BREAKING', message: `${old.type}: dataVersion went down from ${old.dataVersion} to ${now.dataVersion}; it only goes up.` });
    } else if (now.dataVersion > old.dataVersion) {
      changes.push({ type: old.type, severity: 'DANGEROUS', message: `${old.type}: dataVersion ${old.dataVersion} → ${now.dataVersion}; every consumer must read v${now.dataVersion} before producers send it.` });
    } else if (JSON.stringify(now.schema) !== JSON.stringify(old.schema)) {
      const problems = breakingChanges(old.schema, now.schema);
      if (problems.length) for (const problem of problems) changes.push({ type: old.type, severity: 'BREAKING', message: `${old.type} v${old.dataVersion}: ${problem}; consumers of v${old.dataVersion} cannot read it (bump its dataVersion instead).` });
      else changes.push({ type: old.type, severity: 'SAFE', message: `${old.type} v${old.dataVersion} changed compatibly (${addedOptional(old.schema, now.schema).join(', ') || 'no field removed or retyped'}).` });
    }
  }
  for (const contract of proposed) if (!before.has(contract.type)) changes.push({ type: contract.type, severity: 'SAFE', message: `${contract.type} v${contract.dataVersion} on ${contract.topic} is new.` });
  return changes;
}

/** The optional fields `next` adds to an object schema, as `data.x added (optional)`. */
function addedOptional(previous: JsonSchema, next: JsonSchema, path = 'data'): string[] {
  if (previous.type !== 'object' || next.type !== 'object') return [];
  const before = previous.properties ?? {};
  return Object.entries(next.properties ?? {}).flatMap(([key, schema]) =>
    key in before ? addedOptional(before[key]!, schema, `${path}.${key}`) : [`${path}.${key} added (optional)`]);
}

/**
 * The same JSON with object keys in one order, recursively: Postgres' jsonb does not keep key
 * order, and the comparisons here (and breakingChanges') compare serialisations.
 */
export function canonicalJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(canonicalJson) as T;
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonicalJson((value as Record<string, unknown>)[key])])) as T;
}
