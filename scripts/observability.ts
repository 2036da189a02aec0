// The dashboards and alert rules of observability/, read once for the checks that hold them to the
// code (scripts/observability.test.ts) and to a running Prometheus (e2e/observability.e2e.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const root = join(import.meta.dirname, '..');
export const DASHBOARDS = join(root, 'observability/grafana/dashboards');
export const ALERTS = join(root, 'observability/prometheus/alerts.yml');

export interface Dashboard {
  uid: string;
  title: string;
  panels: { title: string; targets: { expr: string }[] }[];
}

export const dashboards = (): { file: string; dashboard: Dashboard }[] =>
  readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard }));

export const alertRules = (): { alert: string; expr: string }[] =>
  (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);

/** Every PromQL expression of the dashboards and rules, with where it is. */
export const queries = (): { where: string; expr: string }[] => [
  ...dashboards().flatMap(({ file, dashboard }) => dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `${file}: ${p.title}`, expr: t.expr })))),
  ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
];

/** Metric names a PromQL expression reads (ours all start with `shopgraph_`). */
export const metricsIn = (expr: string): string[] => expr.match(/\bshopgraph_[a-z0-9_]+/g) ?? [];
