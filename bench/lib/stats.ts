// Percentiles, medians and the round-overlap test of the report.

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
