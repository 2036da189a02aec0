// What every bench script's run needs: flag parsing, a timestamped log on stderr, and one abort
// signal for Ctrl-C / SIGTERM (a second one forces) or the time limit, so the cleanup still runs.

/** A flag's value as a positive number, or a clear error naming the flag. */
export function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${value})`);
  return n;
}

export interface BenchRun {
  startedAt: Date;
  log(message: string): void;
  /** Aborted on Ctrl-C, SIGTERM or past the time limit: stop measuring, then clean up. */
  signal: AbortSignal;
}

/**
 * Starts a bench run bounded by `limitMinutes`. Listening to the signals also keeps the infra
 * package's exit hook from exiting before the bench's own cleanup.
 */
export function startBenchRun(limitMinutes: number): BenchRun {
  const startedAt = new Date();
  const log = (message: string) => process.stderr.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
  const interrupted = new AbortController();
  let signals = 0;
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      if (++signals > 1) process.exit(130);
      log(`${name}: stopping (again to force)`);
      interrupted.abort();
    });
  }
  const deadline = setTimeout(() => {
    log('time limit reached: stopping');
    interrupted.abort();
  }, limitMinutes * 60_000);
  deadline.unref();
  return { startedAt, log, signal: interrupted.signal };
}
