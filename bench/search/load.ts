// Load shapes: an open loop (requests sent on a fixed schedule whether or not earlier ones have
// answered; latency counted from when a request was due, so a slow answer cannot hide the ones
// it delayed) and a closed loop (C callers back to back, for throughput).
import { sleep } from '@shopgraph/core/lifecycle';

/** What one request came to: `ok` false with a short reason when it failed or answered wrongly. */
export interface Outcome {
  ok: boolean;
  error?: string;
  /** Anything the caller wants back per request (e.g. Elasticsearch's `took`). */
  value?: number;
}

export interface Sample {
  /** Wall-clock ms (performance.timeOrigin based) when the request was due, was sent, and answered. */
  due: number;
  sent: number;
  end: number;
  outcome: Outcome;
}

export interface LoadResult {
  samples: Sample[];
  /** Requests not sent because `maxInFlight` were still waiting (the target could not keep up). */
  skipped: number;
  seconds: number;
  /** The most a request was sent after it was due: the load generator's own lag. */
  maxSendLagMs: number;
}

export const now = (): number => performance.timeOrigin + performance.now();

async function attempt(send: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await send();
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message.slice(0, 80) : String(error) };
  }
}

/**
 * `rate` requests per second for `seconds`, or until `until` aborts; then waits for the last
 * answers (each bounded by the client's timeout).
 */
export async function openLoop(options: { rate: number; seconds?: number; until?: AbortSignal; maxInFlight: number; signal: AbortSignal; send: (i: number) => Promise<Outcome> }): Promise<LoadResult> {
  const { rate, maxInFlight, signal, send } = options;
  const total = options.seconds === undefined ? Number.POSITIVE_INFINITY : Math.round(rate * options.seconds);
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  let skipped = 0;
  let maxSendLagMs = 0;
  const stopped = options.until ? AbortSignal.any([signal, options.until]) : signal;
  const start = now() + 5;
  for (let i = 0; i < total && !signal.aborted; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - now();
    // Behind schedule: still let answers in between sends.
    if (wait > 1) await sleep(wait, stopped);
    else await new Promise((resolve) => setImmediate(resolve));
    if (options.until?.aborted) break;
    if (inFlight.size >= maxInFlight) {
      skipped++;
      continue;
    }
    const sent = now();
    maxSendLagMs = Math.max(maxSendLagMs, sent - due);
    const request = attempt(() => send(i)).then((outcome) => {
      samples.push({ due, sent, end: now(), outcome });
      inFlight.delete(request);
    });
    inFlight.add(request);
  }
  const seconds = (now() - start) / 1000;
  await Promise.all(inFlight);
  return { samples, skipped, seconds, maxSendLagMs: Math.round(maxSendLagMs) };
}

/** `concurrency` callers sending back to back for `seconds`. */
export async function closedLoop(options: { concurrency: number; seconds: number; signal: AbortSignal; send: (i: number) => Promise<Outcome> }): Promise<LoadResult> {
  const { concurrency, seconds, signal, send } = options;
  const samples: Sample[] = [];
  const until = now() + seconds * 1000;
  let next = 0;
  const caller = async () => {
    while (now() < until && !signal.aborted) {
      const sent = now();
      const outcome = await attempt(() => send(next++));
      samples.push({ due: sent, sent, end: now(), outcome });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { samples, skipped: 0, seconds, maxSendLagMs: 0 };
}

/** Failure reasons and their counts. */
export function failures(samples: readonly Sample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { outcome } of samples) if (!outcome.ok) counts[outcome.error ?? 'failed'] = (counts[outcome.error ?? 'failed'] ?? 0) + 1;
  return counts;
}
