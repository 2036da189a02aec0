import type { Logger } from '@shopgraph/core/log';
import type { Runner } from './messaging/relay.ts';

/**
 * Runs `work` every `intervalMs`, counted from the end of the last run, so runs never overlap; a
 * run that answers `true` (more to do, e.g. a full batch) is followed at once by another. A failed
 * run is logged under `what` and the next tick tries again. Safe with several replicas when `work`
 * is (e.g. skips rows another holds). `stop()` waits for a run in progress.
 */
export function runPeriodically(what: string, intervalMs: number, logger: Logger, work: () => Promise<boolean>): Runner {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const run = async (): Promise<void> => {
    while (!stopped && (await work()));
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run()
        .catch((error: unknown) => logger.error({ err: error }, `${what} failed`))
        .finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
