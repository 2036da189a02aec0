// docker-compose.yml as the checks read it: YAML merge keys (`<<:`) resolved, and its inline config
// scripts as the shell in their container gets them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const COMPOSE_FILE = join(import.meta.dirname, '..', 'docker-compose.yml');

/** The parsed file, typed by the caller to what it reads of it. */
export const readComposeFile = <T>(): T => parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as T;

/** The inline config `name` (a script) as bash sees it: Compose turns `$$` into `$`. */
export function composeScript(name: string): string {
  const content = readComposeFile<{ configs: Record<string, { content?: string }> }>().configs[name]?.content;
  if (content === undefined) throw new Error(`docker-compose.yml has no inline config "${name}"`);
  return content.replaceAll('$$', '$');
}
