/** One sample of a metric: its labels and value. */
export interface Series {
  labels: Record<string, string>;
  value: number;
}

/**
 * One service's `/metrics`, parsed: `value(name, labels)` sums the series whose labels include
 * `labels` (NaN when none); `series` lists them, for label values not known in advance.
 */
export interface Scrape {
  text: string;
  value(name: string, labels?: Record<string, string>): number;
  series(name: string, labels?: Record<string, string>): Series[];
}

export async function scrapeMetrics(baseUrl: string | URL): Promise<Scrape> {
  const response = await fetch(new URL('/metrics', baseUrl));
  if (!response.ok) throw new Error(`GET /metrics: ${response.status}`);
  const text = await response.text();
  const series = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, name, labelText = '', value] = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line) ?? [];
      const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!]));
      return { name, labels, value: Number(value) };
    });
  const matching = (name: string, labels: Record<string, string>) => series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    text,
    value(name, labels = {}) {
      const found = matching(name, labels);
      return found.length ? found.reduce((sum, s) => sum + s.value, 0) : NaN;
    },
    series: (name, labels = {}) => matching(name, labels).map(({ labels, value }) => ({ labels, value })),
  };
}
