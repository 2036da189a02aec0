// `npm run search:reindex` (scripts/search-reindex.ts) as its own process against the stack: how
// long the full rebuild takes, and when the alias moved to the new index (the rest is the drain
// before the old index is dropped).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPinned, stop } from '../lib/procs.ts';
import { round } from '../saga/stats.ts';
import { aliasTarget, type ElasticsearchClient } from './elasticsearch.ts';
import { now } from './load.ts';

export interface ReindexResult {
  exitCode: number | null;
  /** Start of the process to its exit. */
  seconds: number;
  /** Start of the process to the alias pointing at the new index. */
  swapAfterS: number | null;
  products: number | null;
  productsPerS: number | null;
  /** What the script printed last (its summary, or why it failed). */
  lastLine: string;
}

export async function runReindex(options: { root: string; env: Record<string, string>; logFile: string; es: ElasticsearchClient; alias: string; signal: AbortSignal }): Promise<ReindexResult> {
  const { es, alias, signal } = options;
  const before = await aliasTarget(es, alias);
  const started = now();
  let swappedAt: number | null = null;
  const proc = startPinned(null, [process.execPath, join(options.root, 'scripts/search-reindex.ts')], { ...process.env, ...options.env }, options.logFile, options.root);
  const stopOnAbort = () => void stop(proc);
  signal.addEventListener('abort', stopOnAbort, { once: true });
  let exited = false;
  const watcher = (async () => {
    while (!exited && swappedAt === null) {
      const target = await aliasTarget(es, alias).catch(() => before);
      if (target && target !== before) swappedAt = now();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const exitCode = await proc.exited;
  exited = true;
  const seconds = (now() - started) / 1000;
  signal.removeEventListener('abort', stopOnAbort);
  await watcher;
  const lastLine = readFileSync(options.logFile, 'utf8').trim().split('\n').at(-1) ?? '';
  const products = /reindexed (\d+) products/.exec(lastLine)?.[1];
  const swapAfterS = swappedAt === null ? null : round((swappedAt - started) / 1000);
  return {
    exitCode,
    seconds: round(seconds),
    swapAfterS,
    products: products ? Number(products) : null,
    productsPerS: products && swapAfterS ? Math.round(Number(products) / swapAfterS) : null,
    lastLine,
  };
}
