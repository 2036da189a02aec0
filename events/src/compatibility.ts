import { z } from 'zod';
import { contracts, type EventType } from './contracts/index.ts';

export type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema; [key: string]: unknown };

/** What each contract's data looks like, as JSON Schema: the form the snapshot keeps. */
export function contractSchemas(): Record<string, { topic: string; dataVersion: number; schema: JsonSchema }> {
  return Object.fromEntries(
    (Object.keys(contracts) as EventType[]).sort().map((type) => {
      const { topic, dataVersion, schema } = contracts[type];
      const { $schema: _, ...json } = z.toJSONSchema(schema) as JsonSchema;
      return [type, { topic, dataVersion, schema: json }];
    }),
  );
}

/**
 * Why data valid under `next` could break a consumer written against `previous` (or data
 * written under `previous` fail `next`): a field removed or retyped, a new required field, a
 * changed enum or constraint. Adding an optional field is the one safe change.
 */
export function breakingChanges(previous: JsonSchema, next: JsonSchema, path = 'data'): string[] {
  if (JSON.stringify(previous.type) !== JSON.stringify(next.type)) return [`${path}: type ${previous.type ?? 'union'} became ${next.type ?? 'union'}`];
  if (previous.type === 'object') {
    const problems: string[] = [];
    const before = previous.properties ?? {};
    const after = next.properties ?? {};
    for (const key of Object.keys(before)) {
      if (!(key in after)) problems.push(`${path}.${key}: removed`);
      else problems.push(...breakingChanges(before[key]!, after[key]!, `${path}.${key}`));
    }
    for (const key of next.required ?? []) {
      if (!(previous.required ?? []).includes(key)) problems.push(`${path}.${key}: ${key in before ? 'became' : 'added as'} required`);
    }
    return problems;
  }
  if (previous.type === 'array') return breakingChanges(previous.items ?? {}, next.items ?? {}, `${path}[]`);
  return JSON.stringify(previous) === JSON.stringify(next) ? [] : [`${path}: constraints changed`];
}
