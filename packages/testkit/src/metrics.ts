/** One service's `/metrics`, parsed: `value(name, labels)` sums the series whose labels include `labels` (NaN when none). */
export interface Scrape {
  text: string;
  value(name: string, labels?: Record<string, string>): number;
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
  return {
    text,
    value(name, labels = {}) {
      const matching = series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      return matching.length ? matching.reduce((sum, s) => sum + s.value, 0) : NaN;
    },
  };
}
