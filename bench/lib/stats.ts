// Percentiles, medians, the round-overlap test of the report, and quantiles of a scraped histogram.
import type { Scrape } from '@shopgraph/testkit/metrics';

/** The p-th percentile (0–100) by nearest rank; NaN when empty. Sorts a copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** Do two sets of per-round values overlap (min..max ranges intersect)? Then their medians' ratio means little. */
export function overlaps(a: readonly number[], b: readonly number[]): boolean {
  if (!a.length || !b.length) return true;
  return Math.max(...a) >= Math.min(...b) && Math.max(...b) >= Math.min(...a);
}

export const round = (value: number, digits = 0): number => (Number.isFinite(value) ? Math.round(value * 10 ** digits) / 10 ** digits : value);

/**
 * Quantiles of what a Prometheus histogram observed between two scrapes of it, each as the upper
 * bound of the bucket it falls in (Infinity past the last): as precise as the buckets, never low.
 */
export function histogramBetween(before: Scrape, after: Scrape, name: string, labels: Record<string, string>, quantiles: readonly number[]): { count: number; upTo: number[] } {
  const since = (scrape: Scrape, le: string) => scrape.value(`${name}_bucket`, { ...labels, le }) || 0;
  const bounds = [...new Set(after.series(`${name}_bucket`, labels).map((s) => s.labels['le']!))];
  const cumulative = bounds.map((le) => ({ bound: le === '+Inf' ? Infinity : Number(le), count: since(after, le) - since(before, le) })).sort((a, b) => a.bound - b.bound);
  const count = cumulative.at(-1)?.count ?? 0;
  return { count, upTo: quantiles.map((q) => (count === 0 ? Number.NaN : cumulative.find((b) => b.count >= q * count)?.bound ?? Number.NaN)) };
}
