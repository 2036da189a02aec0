import type { Logger } from '@shopgraph/core/log';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { RegistryClient } from './registry-client.ts';
import type { TrustedDocumentStore } from './trusted-documents.ts';

/**
 * Where the router's supergraph comes from: a file read once (SUPERGRAPH_PATH, the default), or the
 * schema registry, followed while the router runs (REGISTRY_URL). The router builds each new one
 * and swaps it in live (app.ts); a source only delivers SDLs.
 */

export interface SupergraphVersion {
  /** sha256 hex of the SDL (the registry's id of a composed version). */
  id: string;
  sdl: string;
}

export interface SupergraphSource {
  /** Resolves with the supergraph to start on; each later one goes to `onUpdate` (until `close`). */
  start(onUpdate: (version: SupergraphVersion) => void): Promise<SupergraphVersion>;
  close(): void;
}

export const supergraphId = (sdl: string): string => createHash('sha256').update(sdl).digest('hex');

/** One supergraph, never changing. */
export function fixedSupergraph(sdl: string): SupergraphSource {
  return { start: async () => ({ id: supergraphId(sdl), sdl }), close() {} };
}

/** The composed file (`npm run compose`), read once at start. */
export function supergraphFile(path: string): SupergraphSource {
  return {
    async start() {
      const sdl = await readFile(path, 'utf8').catch((error: unknown) => {
        throw new Error(`Cannot read the supergraph at ${path} (run \`npm run compose\`, or set SUPERGRAPH_PATH)`, { cause: error });
      });
      return { id: supergraphId(sdl), sdl };
    },
    close() {},
  };
}

export interface RegistrySourceOptions {
  client: RegistryClient;
  /** Named in log lines and errors. */
  url: string;
  variant: string;
  pollMs: number;
  /** How long start-up waits for a first supergraph. */
  startupTimeoutMs: number;
  /** Where to start when the registry has none in time (SUPERGRAPH_PATH, when set); the registry's replaces it once it answers. */
  fallback?: SupergraphSource;
  /** Kept up to date with the variant's trusted documents on every poll. */
  trustedDocuments: TrustedDocumentStore;
  logger: Logger;
  /** First retry delay at start-up and after a failed poll (doubling, capped). */
  retryMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const messageOf = (reason: unknown) => (reason instanceof Error ? reason.message : String(reason));

/**
 * The registry's supergraph for one variant, polled every `pollMs` with `ifNotId` (unchanged: no
 * SDL comes back), and its trusted documents with it. Start-up waits for a first supergraph up to
 * `startupTimeoutMs`, retrying; then falls back, or fails naming why. Once running, a registry that
 * is down or refuses is logged and retried with backoff: the router goes on serving what it has.
 */
export function registrySupergraph(options: RegistrySourceOptions): SupergraphSource {
  const { client, url, variant, pollMs, logger, retryMs = 250 } = options;
  let currentId: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failures = 0;

  const refreshTrusted = async () => {
    const trusted = await client.routerTrustedDocuments(variant);
    if (trusted.required !== options.trustedDocuments.required) logger.info({ variant, required: trusted.required }, 'trusted documents required: %s', trusted.required);
    options.trustedDocuments.replace(trusted);
  };

  const poll = async (onUpdate: (version: SupergraphVersion) => void) => {
    const [supergraph, trusted] = await Promise.allSettled([client.routerSupergraph(variant, currentId), refreshTrusted()]);
    if (closed) return;
    if (supergraph.status === 'fulfilled' && supergraph.value?.sdl && supergraph.value.id !== currentId) {
      const { id, sdl, publishedAt } = supergraph.value;
      logger.info({ variant, id, publishedAt }, 'new supergraph from the registry');
      currentId = id;
      try {
        onUpdate({ id, sdl });
      } catch (error) {
        logger.error({ err: error, id }, 'supergraph update failed');
      }
    }
    const problems = [supergraph, trusted].filter((r) => r.status === 'rejected').map((r) => messageOf(r.reason));
    failures = problems.length ? failures + 1 : 0;
    // Doubling from the poll interval, at most 8 times it: a registry back up is seen soon, one away is not hammered.
    const delay = problems.length ? Math.min(pollMs * 2 ** (failures - 1), pollMs * 8) : pollMs;
    if (problems.length) logger.warn({ variant, registry: url, problems, retryInMs: delay }, 'registry unavailable; serving the supergraph we have');
    timer = setTimeout(() => void poll(onUpdate), delay);
    timer.unref();
  };

  return {
    async start(onUpdate) {
      const deadline = performance.now() + options.startupTimeoutMs;
      let first: SupergraphVersion | undefined;
      let problem = 'no answer';
      for (let attempt = 0; !closed; attempt++) {
        const [supergraph, trusted] = await Promise.allSettled([client.routerSupergraph(variant, undefined), refreshTrusted()]);
        if (supergraph.status === 'fulfilled' && supergraph.value?.sdl) {
          first = { id: supergraph.value.id, sdl: supergraph.value.sdl };
          if (trusted.status === 'rejected') logger.warn({ variant, err: trusted.reason }, 'trusted documents not fetched yet; retried on the next poll');
          break;
        }
        problem = supergraph.status === 'rejected' ? messageOf(supergraph.reason) : `variant "${variant}" has no composed supergraph yet`;
        const delay = Math.min(retryMs * 2 ** attempt, 5_000);
        if (performance.now() + delay > deadline) break;
        logger.warn({ registry: url, variant, problem, retryInMs: delay }, 'waiting for a supergraph from the registry');
        await sleep(delay);
      }
      if (closed) throw new Error('Supergraph source closed during start-up');
      if (!first) {
        const why = `no supergraph from the registry ${url} for variant "${variant}" within ${options.startupTimeoutMs} ms (${problem})`;
        if (!options.fallback) throw new Error(`Cannot start: ${why}. Publish a supergraph for the variant, check REGISTRY_URL / REGISTRY_TOKEN / REGISTRY_VARIANT, or set SUPERGRAPH_PATH to start from a file meanwhile.`);
        logger.warn(`${why}: starting from SUPERGRAPH_PATH; the registry's replaces it once it answers`);
        first = await options.fallback.start(() => {});
      }
      currentId = first.id;
      timer = setTimeout(() => void poll(onUpdate), pollMs);
      timer.unref();
      return first;
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
