// The router runs on @shopgraph/core alone: no database, Kafka or Redis client in what it loads.
// Its code imports only the packages it declares, and what those pull in (followed through
// node_modules) holds none of the subgraphs' service layer.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const routerDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(routerDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const FORBIDDEN = [/^@shopgraph\/kit$/, /^@mikro-orm\//, /^kafkajs$/, /^pg$/, /^ioredis$/];

/** Where Node would find a package from `dir`: the nearest node_modules/<name>, up the tree (exports maps aside). */
function manifestOf(name: string, dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return realpathSync(candidate);
    if (dirname(at) === at) return undefined;
  }
}

/** The package a bare import names (`@scope/name/sub` → `@scope/name`). */
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

describe('the router\'s dependencies', () => {
  it('imports, outside tests, only the packages it declares (and node:)', () => {
    const sources = readdirSync(join(routerDir, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const undeclared = new Set<string>();
    for (const file of sources) {
      for (const [, specifier] of readFileSync(join(routerDir, 'src', file), 'utf8').matchAll(/^(?:import|export)\b[^'"]*?from\s+'([^'.][^']*)'/gm)) {
        if (specifier!.startsWith('node:')) continue;
        if (!manifest.dependencies[packageOf(specifier!)]) undeclared.add(`${file}: ${specifier}`);
      }
    }
    expect([...undeclared]).toEqual([]);
  });

  it('pulls in no database, Kafka or Redis client, nor the kit that wraps them', () => {
    const seen = new Set<string>();
    const visit = (name: string, from: string) => {
      const manifestPath = manifestOf(name, from);
      if (!manifestPath || seen.has(manifestPath)) return;
      seen.add(manifestPath);
      const pkg = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name: string; dependencies?: Record<string, string> };
      for (const dependency of Object.keys(pkg.dependencies ?? {})) visit(dependency, dirname(manifestPath));
    };
    for (const dependency of Object.keys(manifest.dependencies)) visit(dependency, routerDir);
    const names = [...seen].map((path) => (JSON.parse(readFileSync(path, 'utf8')) as { name: string }).name);
    expect(names).toContain('@shopgraph/core');
    expect(names.filter((name) => FORBIDDEN.some((pattern) => pattern.test(name)))).toEqual([]);
  });
});
