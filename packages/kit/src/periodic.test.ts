import { createLogger } from '@shopgraph/core/log';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runPeriodically } from './periodic.ts';

const logger = createLogger('periodic', 'silent');

afterEach(() => vi.useRealTimers());

describe('runPeriodically', () => {
  it('runs every interval after the last run ended, at once again while there is more to do, and keeps going after a failure', async () => {
    vi.useFakeTimers();
    const answers: (boolean | 'fail')[] = [true, true, false, 'fail', false];
    const runs: number[] = [];
    const runner = runPeriodically('test', 100, logger, async () => {
      runs.push(Date.now());
      const answer = answers.shift();
      if (answer === 'fail') throw new Error('boom');
      return answer ?? false;
    });
    const start = Date.now();
    await vi.advanceTimersByTimeAsync(99);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // A full batch is followed at once by the next one.
    expect(runs.map((t) => t - start)).toEqual([100, 100, 100]);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs.map((t) => t - start)).toEqual([100, 100, 100, 200, 300]);
    await runner.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(5);
  });

  it('waits for a run in progress when stopped, and starts none after', async () => {
    let finish!: () => void;
    let started = 0;
    const runner = runPeriodically('test', 1, logger, () => {
      started++;
      return new Promise<boolean>((resolve) => (finish = () => resolve(true)));
    });
    await vi.waitFor(() => expect(started).toBe(1));
    let stopped = false;
    const stopping = runner.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(started).toBe(1);
  });
});
