// The router runs on @shopgraph/core alone: no database or Kafka client in what it loads, and Redis
// only for its own rate limiting (ioredis, declared by the router itself; @shopgraph/core, which
// every subgraph loads too, holds none). Its code imports only the packages it declares, and what
// those pull in (followed through node_modules) holds none of the subgraphs' service layer.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const routerDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(routerDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const FORBIDDEN = [/^@shopgraph\/kit$/, /^@mikro-orm\//, /^kafkajs$/, /^pg$/];
const FORBIDDEN_IN_CORE = [...FORBIDDEN, /^ioredis$/];

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

/** The names of `roots` and every package they pull in, resolved from `from`. */
function packagesPulledIn(roots: string[], from: string): string[] {
  const seen = new Set<string>();
  const visit = (name: string, at: string) => {
    const manifestPath = manifestOf(name, at);
    if (!manifestPath || seen.has(manifestPath)) return;
    seen.add(manifestPath);
    const pkg = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name: string; dependencies?: Record<string, string> };
    for (const dependency of Object.keys(pkg.dependencies ?? {})) visit(dependency, dirname(manifestPath));
  };
  for (const root of roots) visit(root, from);
  return [...seen].map((path) => (JSON.parse(readFileSync(path, 'utf8')) as { name: string }).name);
}

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

  it('pulls in no database or Kafka client, nor the kit that wraps them', () => {
    const names = packagesPulledIn(Object.keys(manifest.dependencies), routerDir);
    expect(names).toContain('@shopgraph/core');
    expect(names).toContain('ioredis');
    expect(names.filter((name) => FORBIDDEN.some((pattern) => pattern.test(name)))).toEqual([]);
  });

  it('keeps Redis out of @shopgraph/core', () => {
    const names = packagesPulledIn(['@shopgraph/core'], routerDir);
    expect(names).toContain('@shopgraph/core');
    expect(names.filter((name) => FORBIDDEN_IN_CORE.some((pattern) => pattern.test(name)))).toEqual([]);
  });
});
