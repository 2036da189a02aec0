import type { Logger } from './log.ts';

export interface Closeable {
  close(): Promise<void>;
}

/**
 * Runs a service until SIGTERM/SIGINT, then closes it (draining in-flight work) and exits;
 * a second signal or a close that overruns its deadline forces the exit.
 */
export async function runUntilSignal(name: string, logger: Logger, start: () => Promise<Closeable>, deadlineMs = 20_000): Promise<void> {
  let service: Closeable;
  try {
    service = await start();
  } catch (error) {
    logger.fatal({ err: error }, `${name} failed to start`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, `${name} stopping`);
    setTimeout(() => {
      logger.error(`${name} did not stop within ${deadlineMs} ms`);
      process.exit(1);
    }, deadlineMs).unref();
    try {
      await service.close();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, `${name} stopped with an error`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Waits `ms`, or less if `signal` aborts first (it resolves either way: a stopping loop just ends its wait). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
