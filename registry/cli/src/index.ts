// shopgraph-schema: the schema registry's CLI, for this repository's CI and any other team's.
//   check | publish | fetch | clients push | history      (--help for the options)
// Exit codes: 0 passed / done, 1 check failed or publish refused, 2 bad arguments or input,
// 3 registry unreachable, failing, or refusing the token.
import { parseArgs } from 'node:util';
import { eventContractsFromFile, lintRulesFromFile, readText, subgraphsFromConfig, type SubgraphChange } from './inputs.ts';
import { callRegistry, CliError, ExitCode, type RegistryOptions } from './registry-client.ts';
import { formatCheck, formatVersion, type Check, type Version } from './report.ts';

export { ExitCode } from './registry-client.ts';

const USAGE = `Usage: shopgraph-schema <command> [options]

Commands
  check          check a proposed subgraph schema (or its deletion) and event contracts against a variant
  publish        publish it: recompose and store the new supergraph (refused if it does not compose)
  fetch          print a published subgraph's SDL, or the variant's supergraph
  clients push   register a client version's operations (Apollo persisted-query manifest)
  history        list the variant's published versions, newest first

Options
  --registry <url>      registry GraphQL URL (env REGISTRY_URL)
  --token <secret>      registry token (env REGISTRY_TOKEN)
  --variant <name>      graph variant, e.g. dev, production (env REGISTRY_VARIANT)
  --subgraph <name>     the subgraph to check, publish or fetch
  --schema <file>       its SDL
  --url <url>           its routing URL (needed to publish a new subgraph)
  --delete              check or publish the subgraph's deletion
  --config <file>       every subgraph of a supergraph.yaml (Rover's format) instead of --subgraph
  --prune               with --config: published subgraphs missing from it are deleted (checked as deletions)
  --events <file>       event contracts (JSON like events/contracts.snapshot.json), checked or published too
  --lint-config <file>  {"rules": {"<rule>": "error"|"warning"|"off"}}
  --usage-days <n>      how far back usage counts (registry default 7)
  --author <who>        recorded with a publish
  --client <name> --version <v> --manifest <file>   for clients push
  --limit <n>           versions history lists (20)
  --json                machine-readable output
  --timeout <ms>        per request (30000)

Exit codes: 0 passed, 1 check failed, 2 bad arguments or input, 3 registry unreachable or token refused`;

const OPTIONS = {
  registry: { type: 'string' },
  token: { type: 'string' },
  variant: { type: 'string' },
  subgraph: { type: 'string' },
  schema: { type: 'string' },
  url: { type: 'string' },
  delete: { type: 'boolean' },
  config: { type: 'string' },
  prune: { type: 'boolean' },
  events: { type: 'string' },
  'lint-config': { type: 'string' },
  'usage-days': { type: 'string' },
  author: { type: 'string' },
  client: { type: 'string' },
  version: { type: 'string' },
  manifest: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export interface Io {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
}

const CHECK_FIELDS = `passed variant baseVersion composition { errors { code message } hints { code message } }
  changes { kind severity safeByUsage coordinate message subgraph usage { requests summary clients { name version requests } operations { client version name documentId } } }
  operations { client version name documentId errors } operationsChecked lint { rule severity subgraph coordinate message } eventContracts { type severity message } usageWindowDays`;
const VERSION_FIELDS = 'variant version publishedBy author publishedAt subgraphs { name action routingUrl } changes { severity coordinate message } eventContracts supergraphId';

/** Runs one command; resolves with its exit code (never throws). */
export async function main(argv: string[], io: Io = { env: process.env, out: (t) => console.log(t), err: (t) => console.error(t) }): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return ExitCode.USAGE;
  }
  const command = positionals.join(' ');
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? ExitCode.OK : ExitCode.USAGE;
  }
  try {
    switch (command) {
      case 'check':
        return await check(values, io);
      case 'publish':
        return await publish(values, io);
      case 'fetch':
        return await fetchSchema(values, io);
      case 'clients push':
        return await pushClient(values, io);
      case 'history':
        return await history(values, io);
      default:
        throw new CliError(ExitCode.USAGE, `Unknown command "${command}".\n\n${USAGE}`);
    }
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    io.err(`shopgraph-schema: ${error.message}`);
    return error.exitCode;
  }
}

function registryOf(values: Values, env: NodeJS.ProcessEnv): RegistryOptions {
  const url = values.registry ?? env.REGISTRY_URL;
  const token = values.token ?? env.REGISTRY_TOKEN;
  if (!url) throw new CliError(ExitCode.USAGE, 'No registry: set REGISTRY_URL or pass --registry <url>.');
  if (!URL.canParse(url)) throw new CliError(ExitCode.USAGE, `Invalid registry URL ${url}.`);
  if (!token) throw new CliError(ExitCode.USAGE, 'No registry token: set REGISTRY_TOKEN or pass --token <secret>.');
  return { url, token, timeoutMs: positive(values.timeout, 'timeout') ?? 30_000 };
}

function variantOf(values: Values, env: NodeJS.ProcessEnv): string {
  const variant = values.variant ?? env.REGISTRY_VARIANT;
  if (!variant) throw new CliError(ExitCode.USAGE, 'No variant: pass --variant <name> (or set REGISTRY_VARIANT).');
  return variant;
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new CliError(ExitCode.USAGE, `--${name} must be a positive whole number.`);
  return number;
}

function require(value: string | undefined, flag: string, command: string): string {
  if (!value) throw new CliError(ExitCode.USAGE, `${command} needs --${flag}.`);
  return value;
}

/** The subgraphs of a check or publish: --config (with --prune, the published ones it lacks as deletions), or one --subgraph with --schema or --delete. */
async function subgraphChanges(values: Values, command: string, registry: () => RegistryOptions, variant: string): Promise<SubgraphChange[]> {
  if (values.config) {
    if (values.subgraph || values.schema || values.delete) throw new CliError(ExitCode.USAGE, '--config replaces --subgraph/--schema/--delete: give one or the other.');
    const listed = subgraphsFromConfig(values.config);
    if (!values.prune) return listed;
    const { subgraphs } = await callRegistry<{ subgraphs: { name: string }[] }>(registry(), 'query Published($variant: String!) { subgraphs(variant: $variant) { name } }', { variant });
    const names = new Set(listed.map((s) => s.name));
    return [...listed, ...subgraphs.filter((s) => !names.has(s.name)).map((s) => ({ name: s.name, delete: true }))];
  }
  if (values.prune) throw new CliError(ExitCode.USAGE, '--prune goes with --config.');
  if (!values.subgraph) {
    if (values.events) return [];
    throw new CliError(ExitCode.USAGE, `${command} needs --subgraph <name> with --schema <file> (or --delete), --config <supergraph.yaml>, or --events <file>.`);
  }
  if (values.delete) {
    if (values.schema) throw new CliError(ExitCode.USAGE, '--delete takes no --schema.');
    return [{ name: values.subgraph, delete: true }];
  }
  return [{ name: values.subgraph, sdl: readText(require(values.schema, 'schema', command), `the SDL of ${values.subgraph}`), ...(values.url ? { url: values.url } : {}) }];
}

async function check(values: Values, io: Io): Promise<number> {
  const variant = variantOf(values, io.env);
  const input = {
    variant,
    subgraphs: await subgraphChanges(values, 'check', () => registryOf(values, io.env), variant),
    ...(values.events ? { eventContracts: eventContractsFromFile(values.events) } : {}),
    ...(values['lint-config'] ? { lint: lintRulesFromFile(values['lint-config']) } : {}),
    ...(values['usage-days'] ? { usageWindowDays: positive(values['usage-days'], 'usage-days') } : {}),
  };
  const { schemaCheck } = await callRegistry<{ schemaCheck: Check }>(registryOf(values, io.env), `query Check($input: SchemaCheckInput!) { schemaCheck(input: $input) { ${CHECK_FIELDS} } }`, { input });
  io.out(values.json ? JSON.stringify(schemaCheck, null, 2) : formatCheck(schemaCheck));
  return schemaCheck.passed ? ExitCode.OK : ExitCode.CHECK_FAILED;
}

async function publish(values: Values, io: Io): Promise<number> {
  const variant = variantOf(values, io.env);
  const input = {
    variant,
    subgraphs: await subgraphChanges(values, 'publish', () => registryOf(values, io.env), variant),
    ...(values.events ? { eventContracts: eventContractsFromFile(values.events) } : {}),
    ...(values.author ? { author: values.author } : {}),
  };
  const { publishSchema } = await callRegistry<{ publishSchema: { version: Version | null; changed: boolean; check: Check | null; errors: { code: string; message: string }[] } }>(
    registryOf(values, io.env),
    `mutation Publish($input: PublishSchemaInput!) { publishSchema(input: $input) { version { ${VERSION_FIELDS} } changed check { ${CHECK_FIELDS} } errors { code message } } }`,
    { input },
  );
  const { version, changed, check, errors } = publishSchema;
  if (values.json) io.out(JSON.stringify(publishSchema, null, 2));
  else if (errors.length) io.out([...errors.map((e) => `✗ ${e.message}`), '', ...(check ? [formatCheck(check)] : [])].join('\n'));
  else io.out(changed ? `Published ${input.variant} version ${version!.version}.\n${formatVersion(version!)}` : `Nothing changed: ${input.variant} stays at version ${version!.version}.`);
  return errors.length ? ExitCode.CHECK_FAILED : ExitCode.OK;
}

async function fetchSchema(values: Values, io: Io): Promise<number> {
  const variant = variantOf(values, io.env);
  const registry = registryOf(values, io.env);
  if (values.subgraph) {
    const { subgraphs } = await callRegistry<{ subgraphs: { name: string; routingUrl: string; sdl: string; version: number }[] }>(
      registry,
      'query Fetch($variant: String!, $names: [String!]) { subgraphs(variant: $variant, names: $names) { name routingUrl sdl version } }',
      { variant, names: [values.subgraph] },
    );
    const [subgraph] = subgraphs;
    if (!subgraph) throw new CliError(ExitCode.USAGE, `Subgraph "${values.subgraph}" is not published in ${variant}.`);
    io.out(values.json ? JSON.stringify(subgraph, null, 2) : subgraph.sdl);
    return ExitCode.OK;
  }
  const { schemaVersions } = await callRegistry<{ schemaVersions: (Version & { supergraphSdl: string })[] }>(
    registry,
    'query Supergraph($variant: String!) { schemaVersions(variant: $variant, first: 1) { version supergraphId supergraphSdl } }',
    { variant },
  );
  const [latest] = schemaVersions;
  if (!latest) throw new CliError(ExitCode.USAGE, `Nothing is published in ${variant} yet.`);
  io.out(values.json ? JSON.stringify(latest, null, 2) : latest.supergraphSdl);
  return ExitCode.OK;
}

async function pushClient(values: Values, io: Io): Promise<number> {
  const input = {
    variant: variantOf(values, io.env),
    client: require(values.client, 'client', 'clients push'),
    version: require(values.version, 'version', 'clients push'),
    manifest: readText(require(values.manifest, 'manifest', 'clients push'), 'the manifest'),
  };
  const { pushClientManifest } = await callRegistry<{ pushClientManifest: { client: string; version: string; operations: number } }>(
    registryOf(values, io.env),
    'mutation Push($input: PushClientManifestInput!) { pushClientManifest(input: $input) { client version operations } }',
    { input },
  );
  const { client, version, operations } = pushClientManifest;
  io.out(values.json ? JSON.stringify(pushClientManifest, null, 2) : `Registered ${operations} operation(s) of ${client} ${version} in ${input.variant}.`);
  return ExitCode.OK;
}

async function history(values: Values, io: Io): Promise<number> {
  const variant = variantOf(values, io.env);
  const { schemaVersions } = await callRegistry<{ schemaVersions: Version[] }>(
    registryOf(values, io.env),
    `query History($variant: String!, $first: Int) { schemaVersions(variant: $variant, first: $first) { ${VERSION_FIELDS} } }`,
    { variant, first: positive(values.limit, 'limit') ?? 20 },
  );
  io.out(values.json ? JSON.stringify(schemaVersions, null, 2) : schemaVersions.length ? schemaVersions.map(formatVersion).join('\n') : `Nothing is published in ${variant} yet.`);
  return ExitCode.OK;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
