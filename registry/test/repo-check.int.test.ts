// This repository's CI check (npm run schema:check): the state of main published to a registry,
// the working tree checked against it. Files are given as they are at HEAD, so what other work in
// progress changes in the checkout does not decide these tests.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { schemaCheck } from '../../scripts/schema-check.ts';

const root = join(import.meta.dirname, '../..');
const atHead = (path: string) => execFileSync('git', ['show', `HEAD:${path}`], { cwd: root, encoding: 'utf8' });
const config = atHead('supergraph.yaml');
const subgraphFiles = Object.values((parseYaml(config) as { subgraphs: Record<string, { schema: { file: string } }> }).subgraphs).map((s) => s.schema.file.replace(/^\.\//, ''));
const operationFiles = execFileSync('git', ['ls-tree', '--name-only', 'HEAD', 'e2e/operations/'], { cwd: root, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.graphql'));
/** The working tree as HEAD has it; operation files HEAD lacks are blank (no operations). */
const head: Record<string, string> = Object.fromEntries(['supergraph.yaml', ...subgraphFiles, ...operationFiles].map((path) => [path, atHead(path)]));
for (const file of readdirSync(join(root, 'e2e/operations'))) head[`e2e/operations/${file}`] ??= '';

async function run(options: { headFiles?: Record<string, string>; baseFiles?: Record<string, string> } = {}) {
  const output: string[] = [];
  const exitCode = await schemaCheck({ base: 'HEAD', headFiles: { ...head, ...options.headFiles }, baseFiles: options.baseFiles, out: (text) => output.push(text) });
  return { exitCode, output: output.join('\n') };
}

describe('npm run schema:check', () => {
  it('passes main against itself, with the e2e operations registered', async () => {
    const { exitCode, output } = await run();
    expect(output).toMatch(/Client operations: [1-9]\d* checked, 0 broken/);
    expect(exitCode).toBe(0);
  });

  it('fails a breaking change that a client operation uses, naming the coordinate and the operation', async () => {
    const catalog = head['subgraphs/catalog/schema.graphql']!;
    const changed = catalog.replace('\n  description: String!\n', '\n');
    expect(changed).not.toBe(catalog);
    const { exitCode, output } = await run({ headFiles: { 'subgraphs/catalog/schema.graphql': changed } });
    expect(output).toMatch(/✗ BREAKING\s+Product\.description/);
    expect(output).toMatch(/✗ e2e working-tree \w+: Cannot query field "description" on type "Product"/);
    expect(exitCode).toBe(1);
  });

  it('fails an event contract change that an existing consumer could not read', async () => {
    const snapshot = JSON.parse(atHead('events/contracts.snapshot.json')) as Record<string, { schema: { properties: Record<string, unknown>; required: string[] } }>;
    const [type, contract] = Object.entries(snapshot)[0]!;
    // As if main had published a field the working tree no longer sends.
    contract.schema.properties['legacyField'] = { type: 'string' };
    contract.schema.required.push('legacyField');
    const { exitCode, output } = await run({ baseFiles: { 'events/contracts.snapshot.json': JSON.stringify(snapshot) } });
    expect(output).toContain(`✗ BREAKING  ${type} v1: data.legacyField: removed`);
    expect(exitCode).toBe(1);
  });
});
