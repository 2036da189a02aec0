import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The monorepo root: the nearest folder at or above `from` whose package.json declares
 * "workspaces". Defaults to this file's location, so it works whatever the cwd is.
 */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && hasWorkspaces(manifest)) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`repoRoot: no package.json with "workspaces" at or above ${from}`);
    dir = parent;
  }
}

function hasWorkspaces(manifest: string): boolean {
  try {
    return 'workspaces' in (JSON.parse(readFileSync(manifest, 'utf8')) as object);
  } catch {
    return false;
  }
}

/** Repo conventions: downloads under .cache, runtime data under .data (both gitignored). */
export function repoDirs(root: string = repoRoot()): { root: string; cache: string; data: string } {
  return { root, cache: join(root, '.cache'), data: join(root, '.data') };
}
