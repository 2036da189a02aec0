// Small numeric helpers for the saga benchmark: distributions, rounding (percentiles are bench/lib's).

export { median } from '../lib/stats.ts';

export interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** n, p50/p90/p99, max and mean of a sample (milliseconds, rounded to 0.1). */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]! : Number.NaN);
  const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : Number.NaN;
  return { n: sorted.length, p50: round(at(50)), p90: round(at(90)), p99: round(at(99)), max: round(sorted.at(-1) ?? Number.NaN), mean: round(mean) };
}

export const round = (value: number, digits = 1): number => (Number.isFinite(value) ? Math.round(value * 10 ** digits) / 10 ** digits : value);
