// Every subgraph has the one shape the README's "Layout" section describes, so a new one copied
// from any of them starts right. Fails naming the subgraph, the path and the rule it breaks.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const subgraphsDir = join(root, 'subgraphs');
const subgraphs = readdirSync(subgraphsDir).filter((name) => statSync(join(subgraphsDir, name)).isDirectory());

/** Files every subgraph has. */
const REQUIRED = [
  'package.json',
  'schema.graphql',
  'src/index.ts',
  'src/app.ts',
  'src/config.ts',
  'src/context.ts',
  'src/resolvers/index.ts',
  'src/entities/index.ts',
  'src/migrations/index.ts',
  'test/support.ts',
];

/** What may stand directly in src/, and what the files of each folder are named. */
const SRC_ENTRIES = new Set(['index.ts', 'app.ts', 'config.ts', 'context.ts', 'resolvers', 'domain', 'entities', 'migrations', 'events', 'clients']);
const NAMING: Record<string, { rule: string; test: (file: string) => boolean }> = {
  'src/events': { rule: 'one <consumer>.handler.ts per consumer group', test: (f) => /^[a-z][a-z-]*\.handler\.ts$/.test(f) },
  'src/clients': { rule: 'outbound adapters as <name>.client.ts (unit tests beside them)', test: (f) => /^[a-z][a-z-]*\.client(\.test)?\.ts$/.test(f) },
  'src/entities': { rule: '<name>.entity.ts and index.ts', test: (f) => f === 'index.ts' || /^[a-z][a-z-]*\.entity\.ts$/.test(f) },
  'src/migrations': { rule: '<NNNN>-<name>.ts and index.ts', test: (f) => f === 'index.ts' || /^\d{4}-[a-z][a-z0-9-]*\.ts$/.test(f) },
  test: { rule: 'support.ts and *.int.test.ts / *.e2e.test.ts', test: (f) => f === 'support.ts' || /^[a-z][a-z-]*\.(int|e2e)\.test\.ts$/.test(f) },
};

const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile()) : [];

/** The relative imports of a TypeScript file, resolved to paths. */
function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => resolve(dirname(file), m[1]!));
}

describe.each(subgraphs)('subgraph %s', (name) => {
  const dir = join(subgraphsDir, name);
  const at = (path: string) => `subgraphs/${name}/${path}`;

  it('has every file of the shape', () => {
    expect(REQUIRED.filter((path) => !existsSync(join(dir, path))).map(at)).toEqual([]);
  });

  it('keeps to the folders of the shape, each file named for its role', () => {
    const strays = readdirSync(join(dir, 'src')).filter((entry) => !SRC_ENTRIES.has(entry)).map((entry) => `${at(`src/${entry}`)}: not part of the shape`);
    for (const [folder, { rule, test }] of Object.entries(NAMING)) {
      for (const file of filesUnder(join(dir, folder))) if (!test(file)) strays.push(`${at(`${folder}/${file}`)}: expected ${rule}`);
    }
    expect(strays).toEqual([]);
  });

  it('has no import cycle through app.ts, and imports no other subgraph', () => {
    const app = join(dir, 'src/app.ts');
    const offenders: string[] = [];
    for (const file of filesUnder(join(dir, 'src')).map((f) => join(dir, 'src', f)).filter((f) => f.endsWith('.ts'))) {
      for (const target of importsOf(file)) {
        // Only the entrypoint (and tests) start the app; everything else is below it.
        if (target === app && file !== join(dir, 'src/index.ts')) offenders.push(`${relative(root, file)} imports src/app.ts`);
        if (!target.startsWith(`${dir}/`)) offenders.push(`${relative(root, file)} imports ${relative(root, target)}, outside its subgraph`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
