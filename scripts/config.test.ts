// Every deployable refuses to start on a missing or malformed setting, naming it: run as the image
// runs them (`node <entry>`), with a bad environment, each must exit non-zero before it connects to
// anything, and say which variable is wrong.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readSupergraphConfig } from './compose.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

interface Deployable {
  name: string;
  entry: string;
  /** Variables it must be given, and malformed values it must refuse (each environment's variables named in the error). */
  missing: string[];
  malformed: Record<string, string>[];
}

// The minimum a subgraph needs besides DATABASE_URL, so that only the variable under test is wrong.
const subgraphMalformed = { DATABASE_URL: 'mysql://db:3306/shop', KAFKA_BROKERS: 'kafka' };
const deployables: Deployable[] = [
  ...readSupergraphConfig().map(({ name }) => ({
    name,
    entry: `subgraphs/${name}/src/index.ts`,
    missing: ['DATABASE_URL'],
    malformed: [name === 'search' ? { ...subgraphMalformed, ELASTICSEARCH_URL: 'es:9200' } : subgraphMalformed],
  })),
  { name: 'registry', entry: 'registry/src/index.ts', missing: ['DATABASE_URL', 'REGISTRY_TOKENS'], malformed: [{ DATABASE_URL: 'not a url' }] },
  // The router's URL overrides are checked after its other settings: one at a time.
  { name: 'router', entry: 'router/src/index.ts', missing: [], malformed: [{ SUBGRAPH_CATALOG_URL: 'catalog:4002' }, { JWT_JWKS_URL: 'jwks' }] },
];

/** Starts the entry with exactly `env` (and PATH); resolves with its exit code and output. */
async function start(entry: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  try {
    await run(process.execPath, [join(root, entry)], { cwd: root, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env }, timeout: 30_000 });
    return { code: 0, output: '' };
  } catch (error) {
    const failed = error as { code?: number; killed?: boolean; stdout?: string; stderr?: string };
    if (failed.killed) throw new Error(`${entry} did not exit within 30 s: it started instead of refusing its environment`, { cause: error });
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('start-up with a bad environment', () => {
  it.each(deployables.filter((d) => d.missing.length))('$name exits naming what is missing', async ({ entry, missing }) => {
    const { code, output } = await start(entry, {});
    expect(code).not.toBe(0);
    for (const variable of missing) expect(output).toMatch(new RegExp(`\\b${variable}\\b`));
  });

  it.each(deployables)('$name exits naming each malformed setting', async ({ entry, malformed }) => {
    for (const env of malformed) {
      const { code, output } = await start(entry, env);
      expect(code).not.toBe(0);
      for (const variable of Object.keys(env)) expect(output, variable).toMatch(new RegExp(`\\b${variable}\\b`));
    }
  });
});
