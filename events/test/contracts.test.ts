import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { breakingChanges, contractSchemas, type JsonSchema } from '../src/compatibility.ts';
import { contracts, createEvent, InvalidEvent, parseEvent } from '../src/index.ts';

const root = join(import.meta.dirname, '..');
const snapshot: Record<string, { topic: string; dataVersion: number; schema: JsonSchema }> = JSON.parse(readFileSync(join(root, 'contracts.snapshot.json'), 'utf8'));
const current = contractSchemas();

describe('event contracts stay compatible with their consumers', () => {
  it.each(Object.keys(snapshot))('%s: a published contract is never broken within its dataVersion', (type) => {
    const published = snapshot[type]!;
    const now = current[type];
    expect(now, `${type} was removed: consumers still read it`).toBeDefined();
    expect(now!.topic, `${type} moved topic`).toBe(published.topic);
    if (now!.dataVersion === published.dataVersion) {
      expect(breakingChanges(published.schema, now!.schema), `${type} v${published.dataVersion} changed incompatibly: bump its dataVersion`).toEqual([]);
    } else {
      expect(now!.dataVersion, `${type}: dataVersion only goes up`).toBeGreaterThan(published.dataVersion);
    }
  });

  it('the snapshot is up to date (run `npm run events:snapshot` after a compatible change)', () => {
    expect(current).toEqual(snapshot);
  });

  it('flags the changes that break consumers, and only those', () => {
    const v1: JsonSchema = { type: 'object', properties: { id: { type: 'string' }, n: { type: 'integer' } }, required: ['id', 'n'] };
    expect(breakingChanges(v1, { ...v1, properties: { ...v1.properties, note: { type: 'string' } } })).toEqual([]);
    expect(breakingChanges(v1, { ...v1, properties: { id: { type: 'string' } }, required: ['id'] })).toEqual(['data.n: removed']);
    expect(breakingChanges(v1, { ...v1, properties: { ...v1.properties, n: { type: 'string' } } })).toEqual(['data.n: type integer became string']);
    expect(breakingChanges(v1, { ...v1, properties: { ...v1.properties, x: { type: 'string' } }, required: ['id', 'n', 'x'] })).toEqual(['data.x: added as required']);
  });
});

describe('parseEvent', () => {
  it.each(readdirSync(join(root, 'samples')).filter((f) => f.endsWith('.json')))('accepts the recorded sample %s', (file) => {
    const raw = readFileSync(join(root, 'samples', file), 'utf8');
    expect(parseEvent(raw).type).toBe(JSON.parse(raw).type);
  });

  it('has a recorded sample of every event type', () => {
    const sampled = readdirSync(join(root, 'samples')).map((f) => JSON.parse(readFileSync(join(root, 'samples', f), 'utf8')).type);
    expect(new Set(sampled)).toEqual(new Set(Object.keys(contracts)));
  });

  const valid = createEvent('account.user.registered', 'accounts', crypto.randomUUID(), { userId: crypto.randomUUID(), email: 'a@b.co', name: 'A' });
  it.each([
    ['not JSON', '{', /not JSON/],
    ['no envelope', JSON.stringify({ hello: 1 }), /bad envelope/],
    ['an unknown type', JSON.stringify({ ...valid, type: 'orders.order.teleported' }), /unknown event type/],
    ['an unsupported dataVersion', JSON.stringify({ ...valid, dataVersion: 99 }), /dataVersion 99/],
    ['data failing its schema', JSON.stringify({ ...valid, data: { userId: 'nope' } }), /invalid account.user.registered data/],
  ])('rejects %s as an InvalidEvent', (_name, raw, reason) => {
    expect(() => parseEvent(raw)).toThrow(InvalidEvent);
    expect(() => parseEvent(raw)).toThrow(reason);
  });

  it('refuses to create an event whose data breaks its contract', () => {
    expect(() => createEvent('account.user.registered', 'accounts', 'x', { userId: 'nope' } as never)).toThrow();
  });
});
