// The schema check CI runs on every change, with no registry:
//   1. the subgraphs of supergraph.yaml compose;
//   2. supergraph.graphql is what they compose to (generated files are never stale);
//   3. every operation clients send (e2e/operations/*.graphql) still validates against the new API;
//   4. changes to the client-facing API since a base revision are listed, breaking ones flagged.
// Usage: npm run schema:check [-- --base <git rev>]   (default base: HEAD)
import { Supergraph } from '@apollo/federation-internals';
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { parse, validate, type GraphQLSchema } from 'graphql';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compose, readSupergraphConfig, SUPERGRAPH_FILE, withHeader } from './compose.ts';

const root = join(import.meta.dirname, '..');
const OPERATIONS = join(root, 'e2e/operations');
const baseIndex = process.argv.indexOf('--base');
const base = baseIndex > 0 ? process.argv[baseIndex + 1]! : 'HEAD';
const failures: string[] = [];

const composed = withHeader(compose(readSupergraphConfig()));
if (readFileSync(SUPERGRAPH_FILE, 'utf8') !== composed) failures.push('supergraph.graphql is stale: run `npm run compose` and commit it');

// The client-facing schema; which features a router supports is the router's concern, not this check's.
const apiSchema = (sdl: string): GraphQLSchema => Supergraph.build(sdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema();
const current = apiSchema(composed);

for (const file of readdirSync(OPERATIONS).filter((f) => f.endsWith('.graphql')).sort()) {
  const errors = validate(current, parse(readFileSync(join(OPERATIONS, file), 'utf8')));
  for (const error of errors) failures.push(`client operation ${file}: ${error.message}`);
}

const previous = gitShow(base, 'supergraph.graphql');
if (previous) {
  const changes = await diff(apiSchema(previous), current);
  const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  for (const change of changes) console.log(`${change.criticality.level === CriticalityLevel.Breaking ? 'BREAKING' : 'change  '} ${change.message}`);
  if (breaking.length) console.log(`${breaking.length} breaking change(s) since ${base}; client operations are checked above.`);
  if (!changes.length) console.log(`API unchanged since ${base}`);
} else {
  console.log(`no supergraph.graphql at ${base}: nothing to diff against`);
}

if (failures.length) {
  console.error(failures.map((f) => `✗ ${f}`).join('\n'));
  process.exit(1);
}
console.log('schema check passed');

function gitShow(rev: string, path: string): string | undefined {
  try {
    return execFileSync('git', ['show', `${rev}:${path}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}
