// Load generation, from this process (pinned to the load core).
//  - closedLoop: peak throughput. autocannon with N connections, each sending its next request
//    as soon as the previous answer arrives; measured over a window inside the run.
//  - openLoop: latency at a fixed rate. Requests are sent on a schedule (every 1/rate s) whatever
//    the answers do, each timed from its scheduled send, so a stall shows in the latency
//    instead of silently lowering the rate (autocannon's own rate limit sends each second's
//    quota in a burst, which measures queueing, not the gateway).
// Every request carries the next token of the pool, as `Authorization: Bearer <token>`.
import autocannon from 'autocannon';
import { Agent, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { percentile } from '../../lib/stats.ts';

export interface Target {
  url: string;
  /** The JSON request body. */
  body: string;
  /** Byte length every answer must have (the checked answer's); anything else counts as an error. */
  expectedBytes: number;
}

export class TokenPool {
  private i = 0;
  private readonly tokens: readonly string[];
  constructor(tokens: readonly string[]) {
    this.tokens = tokens;
  }
  next(): string {
    const token = this.tokens[this.i]!;
    this.i = (this.i + 1) % this.tokens.length;
    return `Bearer ${token}`;
  }
}

export interface ClosedLoopResult<T> {
  /** Good answers (200, expected size) per second over the measurement window. */
  rps: number;
  /** Good answers within the window. */
  ok: number;
  /** Bad answers, connection errors and timeouts over the whole run. */
  errors: number;
  seconds: number;
  /** How long the warm-up took. */
  warmupSeconds: number;
  /** What `sample` returned at the start and the end of the window. */
  start: T;
  end: T;
  /** autocannon's latency percentiles over the whole run, warm-up included (at saturation: mostly queueing). */
  latencyP50: number;
  latencyP99: number;
}

export interface WarmUp {
  /** At least this long… */
  seconds: number;
  /** …and at least this many good answers (JIT-compiling a gateway's hot paths takes requests, not seconds)… */
  requests: number;
  /** …but never longer than this. */
  maxSeconds: number;
}

/**
 * One closed-loop run: a warm-up, then a measurement window of `measure` seconds cut out of the
 * running load, so it starts and ends in steady state (no idle gateway at its start, no answers
 * to abandoned requests counted in it). `sample` reads whatever else is measured over the same
 * window (CPU, subgraph counters). With `measure` 0 it only warms up.
 */
export async function closedLoop<T>(target: Target, pool: TokenPool, connections: number, warmup: WarmUp, measure: number, sample: () => T | Promise<T>): Promise<ClosedLoopResult<T>> {
  let ok = 0;
  let bad = 0;
  const mark = async () => ({ at: performance.now(), ok, sampled: await sample() });
  const run = autocannon({
    url: target.url,
    connections,
    duration: warmup.maxSeconds + measure + 5,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: target.body,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: pool.next() } }),
        onResponse: (status, body) => {
          if (status === 200 && body.length === target.expectedBytes) ok++;
          else bad++;
        },
      },
    ],
  });
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const sleep = (seconds: number) => delay(Math.max(0, seconds * 1000));
  while (elapsed() < warmup.maxSeconds && (elapsed() < warmup.seconds || ok < warmup.requests)) await sleep(0.05);
  const a = await mark();
  await sleep(measure - (performance.now() - a.at) / 1000);
  const b = measure > 0 ? await mark() : a;
  run.stop();
  const result = await run;
  const seconds = (b.at - a.at) / 1000;
  return {
    rps: seconds > 0 ? (b.ok - a.ok) / seconds : Number.NaN,
    ok: b.ok - a.ok,
    warmupSeconds: (a.at - started) / 1000,
    errors: bad + result.errors + result.timeouts,
    seconds,
    start: a.sampled,
    end: b.sampled,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

export interface OpenLoopResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  /** Answers still outstanding when the window closed (counted as errors too). */
  late: number;
  latencyP50: number;
  latencyP90: number;
  latencyP99: number;
  latencyMax: number;
}

export async function openLoop(target: Target, pool: TokenPool, rate: number, seconds: number, maxSockets = 256): Promise<OpenLoopResult> {
  const url = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets });
  const body = Buffer.from(target.body);
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let pending = 0;
  const interval = 1000 / rate;
  const start = performance.now() + 5;
  const end = start + seconds * 1000;
  let next = start;

  const fire = (scheduled: number) => {
    sent++;
    pending++;
    const done = (good: boolean) => {
      pending--;
      if (good) {
        ok++;
        latencies.push(performance.now() - scheduled);
      } else errors++;
    };
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: pool.next() } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => done(res.statusCode === 200 && bytes === target.expectedBytes));
        res.on('error', () => done(false));
      },
    );
    req.on('error', () => done(false));
    req.end(body);
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next <= now && next < end) {
        fire(next);
        next += interval;
      }
      if (next >= end) return resolve();
      setTimeout(tick, Math.max(0, next - performance.now() - 0.5));
    };
    setTimeout(tick, 5);
  });
  // Give stragglers up to 5 s, then count what is still out as late.
  const deadline = performance.now() + 5_000;
  while (pending > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const late = pending;
  agent.destroy();
  return {
    rate,
    sent,
    ok,
    errors: errors + late,
    late,
    latencyP50: percentile(latencies, 50),
    latencyP90: percentile(latencies, 90),
    latencyP99: percentile(latencies, 99),
    latencyMax: percentile(latencies, 100),
  };
}
