import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { findBinary, spawnManaged, tailFile } from './process.ts';
import { noop, type Log } from './util.ts';

export interface PrometheusHandle {
  url: string;
  /** An instant query's result vector (`/api/v1/query`). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  dataDir: string;
  /** What to scrape: a job per service, each at `/metrics` of its base URL. */
  targets: { job: string; url: string }[];
  /** Rule files to load (alerting rules): a file that does not load fails the start. */
  ruleFiles?: string[];
  scrapeIntervalS?: number;
  log?: Log;
}

/**
 * Starts Debian's `prometheus` (apt-get install prometheus) on a free loopback port, scraping
 * `targets` and loading `ruleFiles`. No npm package ships a Prometheus server, so without the
 * binary this fails with instructions.
 */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusHandle> {
  const log = opts.log ?? noop;
  const binary = findBinary('prometheus');
  if (!binary) throw new Error("No prometheus binary on PATH: install Debian's package (apt-get install prometheus)");
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  // JSON is YAML: no YAML writer needed.
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: (opts.ruleFiles ?? []).map((file) => resolve(file)),
    scrape_configs: opts.targets.map(({ job, url }) => {
      const { host, protocol } = new URL(url);
      return { job_name: job, scheme: protocol.replace(':', ''), metrics_path: '/metrics', static_configs: [{ targets: [host] }] };
    }),
  };
  const configFile = join(dataDir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dataDir, 'prometheus.log');
  const child = await spawnManaged(binary, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dataDir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { logFile, cwd: dataDir });
  for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
    if (!child.isRunning()) throw new Error(`prometheus exited during start-up; ${logFile}:\n${tailFile(logFile)}`);
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await child.stop(2000);
      throw new Error(`prometheus on port ${port} was not ready within 20 s; ${logFile}:\n${tailFile(logFile)}`);
    }
  }
  log(`prometheus: ready on ${url}`);
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await response.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`prometheus query ${expr}: ${body.error}`);
      return body.data.result;
    },
    stop: async () => {
      await child.stop(5000);
    },
  };
}
