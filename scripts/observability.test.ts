// The dashboards and alert rules in observability/ are code: they parse, the rules load in
// Prometheus's own checker, and every metric they name is one the services really export.
import { createMetrics, type Registry } from '@shopgraph/core/metrics';
import { findBinary } from '@shopgraph/infra';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALERTS, alertRules, dashboards as readDashboards, metricsIn, queries } from './observability.ts';

const root = join(import.meta.dirname, '..');
const SOURCES = ['packages', 'subgraphs', 'router', 'registry'];
const rules = alertRules();
const dashboards = readDashboards();

/** What the code registers: every `name: 'shopgraph_…'` in its sources, and prom-client's process metrics. */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const [, name] of readFileSync(path, 'utf8').matchAll(/name: '(shopgraph_[a-z0-9_]+)'/g)) names.add(name!);
      }
    }
  };
  for (const dir of SOURCES) walk(join(root, dir));
  const registry: Registry = createMetrics('check');
  for (const metric of registry.getMetricsAsArray()) names.add(metric.name);
  registry.clear();
  // A histogram's series.
  for (const name of [...names]) for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  return names;
}

describe('observability as code', () => {
  it('has the router, saga and Kafka dashboards, each panel with a query', () => {
    expect(dashboards.map((d) => d.dashboard.uid).sort()).toEqual(['shopgraph-kafka', 'shopgraph-router', 'shopgraph-saga']);
    for (const { file, dashboard } of dashboards) {
      expect(dashboard.panels.length, file).toBeGreaterThan(0);
      for (const panel of dashboard.panels) expect(panel.targets.filter((t) => t.expr.trim()).length, `${file}: ${panel.title}`).toBeGreaterThan(0);
    }
  });

  it('has alert rules Prometheus accepts (promtool check rules)', () => {
    const promtool = findBinary('promtool');
    if (!promtool) throw new Error("promtool not found: install Debian's prometheus package (apt-get install prometheus); .ci/run does");
    expect(execFileSync(promtool, ['check', 'rules', ALERTS], { encoding: 'utf8' })).toMatch(/SUCCESS: \d+ rules found/);
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['DeadLetters', 'OutboxNotPublishing', 'ConsumerLagGrowing', 'SagasTimingOut', 'RouterErrorRatio']));
  });

  it('names only metrics the code exports', () => {
    const exported = exportedMetrics();
    const unknown = queries().flatMap(({ where, expr }) => metricsIn(expr).filter((name) => !exported.has(name)).map((name) => `${where}: ${name}`));
    expect(unknown).toEqual([]);
  });
});
