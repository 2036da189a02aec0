import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError, ExitCode } from './registry-client.ts';

export interface SubgraphChange {
  name: string;
  sdl?: string;
  url?: string;
  delete?: boolean;
}
export interface EventContract {
  type: string;
  topic: string;
  dataVersion: number;
  schema: string;
}

export function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(ExitCode.USAGE, `Cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function readJson(file: string, what: string): unknown {
  const text = readText(file, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(ExitCode.USAGE, `${what} ${file} is not JSON: ${(error as Error).message}`);
  }
}

/** Every subgraph of a composition config in Rover's format (supergraph.yaml), SDLs read from their files. */
export function subgraphsFromConfig(file: string): SubgraphChange[] {
  let config: { subgraphs?: Record<string, { routing_url?: string; schema?: { file?: string } }> };
  try {
    config = parseYaml(readText(file, 'the composition config')) as typeof config;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(ExitCode.USAGE, `${file} is not YAML: ${(error as Error).message}`);
  }
  const entries = Object.entries(config?.subgraphs ?? {});
  if (!entries.length) throw new CliError(ExitCode.USAGE, `${file} lists no subgraphs (expected Rover's format: subgraphs: { <name>: { routing_url, schema: { file } } }).`);
  return entries.map(([name, entry]) => {
    if (!entry.schema?.file) throw new CliError(ExitCode.USAGE, `${file}: subgraph ${name} has no schema.file.`);
    return { name, url: entry.routing_url, sdl: readText(resolve(dirname(file), entry.schema.file), `the SDL of ${name}`) };
  });
}

/** Event contracts from a JSON file shaped like @shopgraph/events' contracts.snapshot.json: `{ "<type>": { topic, dataVersion, schema } }`. */
export function eventContractsFromFile(file: string): EventContract[] {
  const contracts = readJson(file, 'the event contracts') as Record<string, { topic?: unknown; dataVersion?: unknown; schema?: unknown }>;
  if (!contracts || typeof contracts !== 'object' || Array.isArray(contracts)) throw new CliError(ExitCode.USAGE, `${file}: expected { "<event type>": { topic, dataVersion, schema } }.`);
  return Object.entries(contracts).map(([type, { topic, dataVersion, schema }]) => {
    if (typeof topic !== 'string' || typeof dataVersion !== 'number' || !schema || typeof schema !== 'object') {
      throw new CliError(ExitCode.USAGE, `${file}: ${type} needs topic (string), dataVersion (number) and schema (JSON Schema).`);
    }
    return { type, topic, dataVersion, schema: JSON.stringify(schema) };
  });
}

const SEVERITIES = new Set(['error', 'warning', 'off']);

/** Lint severities from `{ "rules": { "<rule>": "error" | "warning" | "off" } }`. */
export function lintRulesFromFile(file: string): { rule: string; severity: string }[] {
  const { rules } = (readJson(file, 'the lint config') ?? {}) as { rules?: Record<string, unknown> };
  return Object.entries(rules ?? {}).map(([rule, severity]) => {
    if (typeof severity !== 'string' || !SEVERITIES.has(severity.toLowerCase())) throw new CliError(ExitCode.USAGE, `${file}: rule ${rule} must be "error", "warning" or "off".`);
    return { rule, severity: severity.toUpperCase() };
  });
}
