// The schema check CI runs on every change, through the schema registry as any team's CI would:
//   1. supergraph.graphql is what supergraph.yaml composes to (generated files are never stale);
//   2. a registry on a temporary database gets the state of the base revision published (its
//      subgraphs and event contracts, read with `git show`), and the operations clients send
//      (e2e/operations/*.graphql) registered as client "e2e";
//   3. the working tree's subgraphs (deleted ones too) and event contracts are checked against it:
//      composition, API changes classified, operations, lint, event contracts. The check's exit
//      code is this script's (0 passed, 1 failed; README "Schema registry").
// Usage: npm run schema:check [-- --base <git rev>]   (default: the merge base with origin/main, else HEAD)
import { createLogger } from '@shopgraph/kit';
import { createDatabase, databaseUrl, dropDatabase, ensurePostgres, repoDirs } from '@shopgraph/infra';
import { Kind, parse, print, visit, type DefinitionNode, type FragmentDefinitionNode } from 'graphql';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { contractSchemas } from '../events/src/compatibility.ts';
import { main as schemaCli } from '../registry/cli/src/index.ts';
import { createRegistryApp } from '../registry/src/app.ts';
import { loadRegistryConfig } from '../registry/src/config.ts';
import { compose, readSupergraphConfig, SUPERGRAPH_CONFIG, SUPERGRAPH_FILE, withHeader } from './compose.ts';

const root = join(import.meta.dirname, '..');
const VARIANT = 'main';

export interface SchemaCheckOptions {
  /** The revision whose state is published first. */
  base: string;
  /** Replace files of the working tree, and of the base revision (path → content): a test's changes. */
  headFiles?: Record<string, string>;
  baseFiles?: Record<string, string>;
  /** Extra CLI arguments for the check (e.g. `--json`). */
  checkArgs?: string[];
  out?: (text: string) => void;
}

/** Runs the check; resolves with its exit code. */
export async function schemaCheck(options: SchemaCheckOptions): Promise<number> {
  const out = options.out ?? ((text: string) => console.log(text));
  const io = { env: {}, out, err: out };
  const workingFile = (path: string) => options.headFiles?.[path] ?? readFileSync(join(root, path), 'utf8');

  const work = mkdtempSync(join(tmpdir(), 'schema-check-'));
  const postgres = await ensurePostgres({ dataDir: join(repoDirs().data, 'postgres') });
  const database = `schema_check_${randomBytes(5).toString('hex')}`;
  await createDatabase(postgres.url, database);
  const token = randomBytes(24).toString('hex');
  const config = loadRegistryConfig({ DATABASE_URL: databaseUrl(postgres.url, database), PORT: '0', REGISTRY_TOKENS: `ci:check+publish:${token}` });
  const registry = await createRegistryApp({ config, logger: createLogger('registry', 'silent') });
  try {
    const url = `${await registry.listen(0)}/graphql`;
    const cli = (...args: string[]) => schemaCli([...args, '--registry', url, '--token', token, '--variant', VARIANT], io);

    const base = snapshot(join(work, 'base'), (path) => options.baseFiles?.[path] ?? gitShow(options.base, path));
    if (base) {
      const published = await cli('publish', '--config', base.config, '--events', base.events, '--author', `base ${options.base}`);
      if (published !== 0) throw new Error(`publishing the state of ${options.base} failed (exit ${published})`);
    } else {
      out(`no supergraph.yaml at ${options.base}: checking against an empty registry`);
    }
    const manifest = join(work, 'e2e-operations.json');
    writeFileSync(manifest, operationManifest(workingFile));
    const pushed = await cli('clients', 'push', '--client', 'e2e', '--version', 'working-tree', '--manifest', manifest);
    if (pushed !== 0) throw new Error(`registering e2e/operations failed (exit ${pushed})`);

    const head = snapshot(join(work, 'head'), workingFile)!;
    writeFileSync(head.events, JSON.stringify(contractSchemas()));
    return await cli('check', '--config', head.config, '--prune', '--events', head.events, ...(options.checkArgs ?? []));
  } finally {
    await registry.close();
    await dropDatabase(postgres.url, database);
    await postgres.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** supergraph.yaml, the SDLs it names and the event contract snapshot of one state, written under `dir`; undefined when it has no supergraph.yaml. */
function snapshot(dir: string, read: (path: string) => string | undefined): { config: string; events: string } | undefined {
  const yaml = read('supergraph.yaml');
  if (yaml === undefined) return undefined;
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
    return join(dir, path);
  };
  const { subgraphs } = parseYaml(yaml) as { subgraphs: Record<string, { schema: { file: string } }> };
  for (const { schema } of Object.values(subgraphs)) {
    const path = relative(root, join(root, schema.file));
    write(path, read(path) ?? '');
  }
  return { config: write('supergraph.yaml', yaml), events: write('events.json', read('events/contracts.snapshot.json') ?? '{}') };
}

/**
 * The operations of e2e/operations as an Apollo persisted-query manifest: each operation with the
 * fragments it spreads, which may be defined in any of the files (as e2e/operations.ts reads them).
 */
function operationManifest(read: (path: string) => string): string {
  const definitions: readonly DefinitionNode[] = readdirSync(join(root, 'e2e/operations'))
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .flatMap((file) => {
      const text = read(`e2e/operations/${file}`);
      return text.trim() ? parse(text).definitions : [];
    });
  const fragments = new Map(definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const operations = definitions.flatMap((definition) => {
    if (definition.kind !== Kind.OPERATION_DEFINITION) return [];
    const used = new Map<string, FragmentDefinitionNode>();
    const collect = (node: DefinitionNode) =>
      visit(node, {
        FragmentSpread({ name }) {
          const fragment = fragments.get(name.value);
          if (fragment && !used.has(name.value)) collect(used.set(name.value, fragment).get(name.value)!);
        },
      });
    collect(definition);
    const body = [definition, ...used.values()].map((d) => print(d)).join('\n\n');
    return [{ id: createHash('sha256').update(body).digest('hex'), name: definition.name?.value ?? null, type: definition.operation, body }];
  });
  return JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations });
}

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}
const gitShow = (rev: string, path: string) => git('show', `${rev}:${path}`);
/** What `main` published: the merge base with origin/main when there is one, else HEAD. */
export const defaultBase = (): string => git('merge-base', 'HEAD', 'origin/main')?.trim() || 'HEAD';

if (import.meta.url === `file://${process.argv[1]}`) {
  const baseIndex = process.argv.indexOf('--base');
  const base = baseIndex > 0 ? process.argv[baseIndex + 1]! : defaultBase();
  if (readFileSync(SUPERGRAPH_FILE, 'utf8') !== withHeader(compose(readSupergraphConfig(SUPERGRAPH_CONFIG)))) {
    console.error('✗ supergraph.graphql is stale: run `npm run compose` and commit it');
    process.exit(1);
  }
  process.exitCode = await schemaCheck({ base });
}
