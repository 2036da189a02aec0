import { mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchCached, runMaven } from './maven.ts';
import { freePort } from './ports.ts';
import { killStale, spawnManaged, tailFile } from './process.ts';
import { noop, redactUrl, type Log } from './util.ts';

/** Tried in order; the first already in the cache wins. */
export const ZIPKIN_VERSIONS = ['3.6.1', '3.5.1'] as const;
const POM = fileURLToPath(new URL('../zipkin/pom.xml', import.meta.url));

export type ZipkinHandle = {
  /** The server's base URL: its UI at `/zipkin/`, its API at `/api/v2/`. */
  url: string;
  /** Where services send spans (OTEL_EXPORTER_ZIPKIN_ENDPOINT). */
  spansUrl: string;
  /** Stops the server if this call started it; a no-op for one found through ZIPKIN_URL. */
  stop(): Promise<void>;
};

/**
 * Finds or starts a Zipkin server: ZIPKIN_URL if set (it must answer /health), else the server's
 * executable jar from Maven Central (cached under cacheDir like Kafka), in memory, on a free
 * loopback port, as a child of this process.
 */
export async function ensureZipkin(opts: { cacheDir: string; dataDir: string; log?: Log }): Promise<ZipkinHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.ZIPKIN_URL;
  if (fromEnv) {
    const url = fromEnv.replace(/\/$/, '');
    if (!(await healthy(url))) throw new Error(`ZIPKIN_URL is set (${redactUrl(url)}) but Zipkin there does not answer /health: start it, fix ZIPKIN_URL, or unset it`);
    log(`zipkin: using ZIPKIN_URL ${redactUrl(url)}`);
    return { url, spansUrl: `${url}/api/v2/spans`, stop: async () => {} };
  }
  return startZipkin(opts);
}

export async function startZipkin(opts: { cacheDir: string; dataDir: string; log?: Log }): Promise<ZipkinHandle> {
  const log = opts.log ?? noop;
  const jar = await fetchZipkin(opts.cacheDir, log);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'zipkin.pid');
  const logFile = join(dataDir, 'zipkin.log');
  await killStale(pidFile, jar, { log });
  const port = await freePort();
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const started = Date.now();
  // In memory, bounded: a development and test server, not storage.
  const child = await spawnManaged(java, ['-Xms64m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', jar], {
    logFile,
    pidFile,
    cwd: dataDir,
    env: { ...process.env, QUERY_PORT: String(port), QUERY_BIND_ADDRESS: '127.0.0.1', STORAGE_TYPE: 'mem', MEM_MAX_SPANS: '200000', COLLECTOR_KAFKA_ENABLED: 'false', SELF_TRACING_ENABLED: 'false' },
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 90_000; !(await healthy(url)); await sleep(200)) {
    if (!child.isRunning()) throw new Error(`zipkin exited during start-up; ${logFile}:\n${tailFile(logFile)}`);
    if (Date.now() > deadline) {
      await child.stop(2000);
      throw new Error(`zipkin on port ${port} was not healthy within 90 s; ${logFile}:\n${tailFile(logFile)}`);
    }
  }
  log(`zipkin: ready on ${url} in ${Date.now() - started}ms`);
  return {
    url,
    spansUrl: `${url}/api/v2/spans`,
    stop: async () => {
      await child.stop(5000);
    },
  };
}

async function fetchZipkin(cacheDir: string, log: Log): Promise<string> {
  const dirOf = (version: string) => join(resolve(cacheDir), `zipkin-${version}`);
  const { dir } = await fetchCached({
    what: 'Zipkin',
    action: 'download',
    done: 'downloaded',
    versions: process.env.ZIPKIN_VERSION ? [process.env.ZIPKIN_VERSION] : ZIPKIN_VERSIONS,
    dirOf,
    log,
    download: async (version, staging) => {
      log(`zipkin: downloading io.zipkin:zipkin-server:${version}:exec from Maven Central into ${dirOf(version)}`);
      await runMaven(POM, ['dependency:copy', `-Dzipkin.version=${version}`, `-Dzipkin.download=${staging}`], 'Zipkin is fetched with Maven (apt-get install maven), or set ZIPKIN_URL');
      renameSync(join(staging, 'zipkin-server.jar'), join(staging, 'zipkin.jar'));
      return staging;
    },
  });
  return join(dir, 'zipkin.jar');
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return response.ok;
  } catch {
    return false;
  }
}
