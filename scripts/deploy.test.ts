// The deployment files (docker-compose.yml, k8s/ — each overlay as rendered, not only the base)
// against the code: supergraph.yaml (the port table) and the env each service's src/config.ts
// reads. Fails when they drift apart, either way.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { kafkaConfig } from '../packages/kit/src/messaging/kafka.ts';
import { configSchema as routerConfigSchema } from '../router/src/config.ts';
import { SERVICE_NODE_FLAGS } from '@shopgraph/core/node-flags';
import { ROUTER_NODE_FLAGS } from '../router/src/node-flags.ts';
import { envName } from '../router/src/supergraph.ts';
import { readSupergraphConfig } from './compose.ts';
import { readComposeFile } from './compose-file.ts';
import { renderKustomization } from './k8s-render.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

// --- the code: services, their ports, entry points and the env they read -------------------------

interface ServiceSpec {
  name: string;
  /** From supergraph.yaml (the router: its config's default). */
  port: number;
  /** The PORT its config defaults to. */
  defaultPort: number;
  /** What the container runs, relative to the image's working directory (the repo root). */
  entry: string;
  /** Node flags it runs with. */
  nodeFlags: readonly string[];
  /** Env names its config reads. */
  reads: Set<string>;
  /** What its config makes of an env name left unset (undefined: no default). */
  defaultOf(name: string): unknown;
}

/** A service's config schema: a zod object (zod 4 keeps a `.refine`d object an object, so accounts' has `.shape` too). */
interface ConfigSchema {
  shape: Record<string, unknown> & { PORT: { parse(value: unknown): number } };
}
const keysOf = (schema: ConfigSchema) => Object.keys(schema.shape);
const defaultPortOf = (schema: ConfigSchema) => schema.shape.PORT.parse(undefined);
const defaultOf = (schema: ConfigSchema, name: string) => (schema.shape[name] as { safeParse?(value: unknown): { data?: unknown } } | undefined)?.safeParse?.(undefined).data;

const subgraphs: ServiceSpec[] = [];
for (const { name, url } of readSupergraphConfig()) {
  const { configSchema } = (await import(`../subgraphs/${name}/src/config.ts`)) as { configSchema: ConfigSchema };
  const port = Number(new URL(url).port);
  subgraphs.push({
    name,
    port,
    defaultPort: defaultPortOf(configSchema),
    entry: `subgraphs/${name}/src/index.ts`,
    nodeFlags: SERVICE_NODE_FLAGS,
    reads: new Set(keysOf(configSchema)),
    defaultOf: (variable) => defaultOf(configSchema, variable),
  });
}
const subgraphUrlVar = (subgraph: string) => `SUBGRAPH_${envName(subgraph)}_URL`;
const router: ServiceSpec = {
  name: 'router',
  port: defaultPortOf(routerConfigSchema),
  defaultPort: defaultPortOf(routerConfigSchema),
  entry: 'router/src/index.ts',
  nodeFlags: ROUTER_NODE_FLAGS,
  // Besides its schema, the router reads SUBGRAPH_<NAME>_URL for the subgraphs of the supergraph.
  reads: new Set([...keysOf(routerConfigSchema), ...subgraphs.map((s) => subgraphUrlVar(s.name))]),
  defaultOf: (variable) => defaultOf(routerConfigSchema, variable),
};
// The schema registry: a service beside the supergraph, on Postgres alone (no Kafka, no JWTs).
const { configSchema: registryConfigSchema } = (await import('../registry/src/config.ts')) as { configSchema: ConfigSchema };
const registry: ServiceSpec = {
  name: 'registry',
  port: 4100,
  defaultPort: defaultPortOf(registryConfigSchema),
  entry: 'registry/src/index.ts',
  nodeFlags: SERVICE_NODE_FLAGS,
  reads: new Set(keysOf(registryConfigSchema)),
  defaultOf: (variable) => defaultOf(registryConfigSchema, variable),
};
const services = [...subgraphs, router, registry];
/** The services that verify or issue JWTs (all but the registry, whose callers present registry tokens). */
const jwtUsers = services.filter((s) => s.reads.has('JWT_ISSUER'));
const accounts = subgraphs.find((s) => s.name === 'accounts')!;
const readBySome = new Set(services.flatMap((s) => [...s.reads]));
/** The subgraphs a service calls directly: those whose SUBGRAPH_<NAME>_URL its config reads. */
const calleesOf = (service: ServiceSpec) => subgraphs.filter((s) => service.reads.has(subgraphUrlVar(s.name)));
/** The subgraphs that call others directly, not through the router (cart for its product checks, orders for checkout). */
const callers = subgraphs.filter((s) => calleesOf(s).length > 0);
/** The services that publish or consume events. */
const kafkaUsers = services.filter((s) => s.reads.has('KAFKA_BROKERS'));
/** The services that use Elasticsearch (search). */
const elasticsearchUsers = services.filter((s) => s.reads.has('ELASTICSEARCH_URL'));
/** `host:port` entries of a KAFKA_BROKERS value. */
const brokersOf = (value: string) => value.split(',').map((broker) => broker.trim());

// --- Dockerfile ----------------------------------------------------------------------------------------

/** Workspace directories by package name, from the root package.json (`dir` or `dir/*` entries). */
function workspaces(): Map<string, string> {
  const patterns = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
  const dirs = patterns.flatMap((pattern) =>
    pattern.endsWith('/*') ? readdirSync(join(root, pattern.slice(0, -2))).map((entry) => `${pattern.slice(0, -2)}/${entry}`) : [pattern]);
  const byName = new Map<string, string>();
  for (const dir of dirs.filter((d) => existsSync(join(root, d, 'package.json')))) byName.set((JSON.parse(read(`${dir}/package.json`)) as { name: string }).name, dir);
  return byName;
}

/** The workspace directories a service runs: its own and, transitively, those in its `dependencies`. */
function runtimeWorkspaces(serviceDir: string, byName = workspaces()): Set<string> {
  const found = new Set<string>();
  const visit = (dir: string) => {
    if (found.has(dir)) return;
    found.add(dir);
    const { dependencies = {} } = JSON.parse(read(`${dir}/package.json`)) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(dependencies)) if (byName.has(name)) visit(byName.get(name)!);
  };
  visit(serviceDir);
  return found;
}

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const ignored = read('.dockerignore').split('\n').map((line) => line.trim().replace(/\/$/, '')).filter((line) => line && !line.startsWith('#'));
  const isIgnored = (dir: string) => ignored.some((pattern) => dir === pattern || dir.startsWith(`${pattern}/`));
  const installed = [...dockerfile.matchAll(/--workspace=(\S+)/g)].map((m) => m[1]!);

  it.each(services)('installs the dependencies of $name', ({ entry }) => {
    const serviceDir = entry.replace(/\/src\/index\.ts$/, '');
    expect(installed.some((dir) => serviceDir === dir || serviceDir.startsWith(`${dir}/`)), `npm ci --workspace for ${serviceDir}`).toBe(true);
  });

  it.each(services)('keeps the code $name runs in the build context', ({ entry }) => {
    const serviceDir = entry.replace(/\/src\/index\.ts$/, '');
    expect([...runtimeWorkspaces(serviceDir)].filter(isIgnored)).toEqual([]);
  });

  it('runs the router by default, with its node flags', () => {
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...router.nodeFlags, router.entry]).replaceAll(',', ', ')}`);
  });

  it.each(services)("starts $name with its node flags from its package's start script too", ({ entry, nodeFlags }) => {
    const serviceDir = entry.replace(/\/src\/index\.ts$/, '');
    expect((JSON.parse(read(`${serviceDir}/package.json`)) as { scripts: { start: string } }).scripts.start).toBe(['node', ...nodeFlags, 'src/index.ts'].join(' '));
  });

  it("keeps the router's supergraph.graphql in the build context", () => {
    expect(isIgnored('supergraph.graphql')).toBe(false);
  });

  it('applies the dependency patches the services run with, at the version the root installs', () => {
    const { devDependencies } = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
    expect(isIgnored('patches')).toBe(false);
    expect(readdirSync(join(root, 'patches')).length).toBeGreaterThan(0);
    // The version: scripts/k8s.test.ts checks the lockfile's patch-package the image installs is this one.
    expect(devDependencies['patch-package']).toBeDefined();
    expect(dockerfile).toContain('patch-package/index.js --error-on-fail');
  });
});

// --- docker-compose.yml ------------------------------------------------------------------------------

interface ComposeService {
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  configs?: Record<string, { content?: string }>;
}
const compose = readComposeFile<ComposeFile>();
const composeService = (name: string) => {
  const service = compose.services[name];
  if (!service) throw new Error(`docker-compose.yml has no service "${name}"`);
  return service;
};
const composeEnv = (name: string) => composeService(name).environment ?? {};

describe('docker-compose.yml', () => {
  it.each(services)('runs $name on its port', ({ name, port, entry, nodeFlags }) => {
    expect(existsSync(join(root, entry)), entry).toBe(true);
    expect(composeService(name).command).toEqual(['node', ...nodeFlags, entry]);
    expect(composeEnv(name).PORT).toBe(String(port));
  });

  it('builds no service that is not in supergraph.yaml or the router', () => {
    const built = Object.entries(compose.services).filter(([, s]) => s.build !== undefined).map(([name]) => name);
    expect(built.sort()).toEqual(services.map((s) => s.name).sort());
  });

  it.each(services)('gives $name only env its config reads', ({ name, reads }) => {
    expect(Object.keys(composeEnv(name)).filter((key) => !reads.has(key))).toEqual([]);
  });

  it.each(subgraphs)('gives $name its own database, created by the Postgres init script', ({ name }) => {
    const database = `shopgraph_${name}`;
    expect(new URL(composeEnv(name).DATABASE_URL ?? '').pathname).toBe(`/${database}`);
    const initScripts = Object.values(compose.configs ?? {}).map((c) => c.content ?? '').join('\n');
    expect(initScripts).toMatch(new RegExp(`CREATE DATABASE ${database};`));
  });

  it('routes the router to every subgraph by service name, and publishes it', () => {
    for (const { name, port } of subgraphs) {
      expect(composeEnv('router')[subgraphUrlVar(name)], name).toBe(`http://${name}:${port}/graphql`);
      expect(composeService('router').depends_on?.[name], name).toEqual({ condition: 'service_healthy' });
    }
    expect(composeService('router').ports).toContain(`${router.port}:${router.port}`);
  });

  it.each(callers)('points $name at the subgraphs it calls, by service name', (caller) => {
    for (const { name, port } of calleesOf(caller)) expect(composeEnv(caller.name)[subgraphUrlVar(name)], name).toBe(`http://${name}:${port}/graphql`);
  });

  it('has one JWT issuer everywhere, with the keys from accounts', () => {
    const issuers = new Set(jwtUsers.map((s) => composeEnv(s.name).JWT_ISSUER));
    expect([...issuers]).toHaveLength(1);
    for (const { name } of jwtUsers) expect(composeEnv(name).JWT_JWKS_URL, name).toBe(`http://accounts:${accounts.port}/.well-known/jwks.json`);
  });

  it.each(kafkaUsers)('connects $name to a Kafka of the stack, once it is healthy', ({ name }) => {
    const env = composeEnv(name);
    expect(env.KAFKA_BROKERS, `${name}: KAFKA_BROKERS`).toBeDefined();
    const brokers = brokersOf(env.KAFKA_BROKERS!);
    for (const broker of brokers) {
      const host = broker.replace(/:\d+$/, '');
      expect(Object.keys(compose.services), `${name}: ${broker}`).toContain(host);
      expect(composeService(name).depends_on?.[host], `${name}: depends on ${host}`).toEqual({ condition: 'service_healthy' });
      // Clients bootstrap, then dial what the broker advertises: it must be this same address.
      const advertised = String(composeEnv(host).KAFKA_ADVERTISED_LISTENERS ?? '').split(',').map((listener) => listener.trim().replace(/^\w+:\/\//, ''));
      expect(advertised, `${host}: KAFKA_ADVERTISED_LISTENERS`).toContain(broker);
    }
    // The topics the services create need as many brokers as replicas.
    expect(kafkaConfig.shape.KAFKA_REPLICATION_FACTOR.parse(env.KAFKA_REPLICATION_FACTOR), `${name}: KAFKA_REPLICATION_FACTOR`).toBeLessThanOrEqual(brokers.length);
  });

  it('has one Kafka and one set of topics for every service that uses Kafka', () => {
    expect(new Set(kafkaUsers.map((s) => composeEnv(s.name).KAFKA_BROKERS)).size).toBe(1);
    expect(new Set(kafkaUsers.map((s) => composeEnv(s.name).KAFKA_TOPIC_PREFIX ?? '')).size).toBe(1);
  });

  it('connects search to the Elasticsearch of the stack, once it is healthy', () => {
    expect(elasticsearchUsers.map((s) => s.name)).toEqual(['search']);
    for (const { name } of elasticsearchUsers) {
      const host = new URL(composeEnv(name).ELASTICSEARCH_URL ?? '').hostname;
      expect(Object.keys(compose.services), `${name}: ELASTICSEARCH_URL`).toContain(host);
      expect(composeService(name).depends_on?.[host], `${name}: depends on ${host}`).toEqual({ condition: 'service_healthy' });
    }
  });
});

// --- k8s/ -----------------------------------------------------------------------------------------

interface Kustomization {
  resources?: string[];
  patches?: { path?: string; patch?: string; target?: { kind?: string; name?: string } }[];
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    selector?: Record<string, string>;
    ports?: { port: number; targetPort?: string | number }[];
    template?: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
  };
}

/** Every kustomization.yaml under k8s/, by directory relative to the repo root. */
function kustomizations(dir = 'k8s'): Record<string, Kustomization> {
  const found: Record<string, Kustomization> = {};
  for (const entry of readdirSync(join(root, dir))) {
    const path = join(dir, entry);
    if (statSync(join(root, path)).isDirectory()) Object.assign(found, kustomizations(path));
    else if (entry === 'kustomization.yaml') found[dir] = parse(read(path)) as Kustomization;
  }
  return found;
}
const allKustomizations = kustomizations();
const base = allKustomizations['k8s/base'];
if (!base) throw new Error('k8s/base/kustomization.yaml is missing');
const manifests = (base.resources ?? [])
  .filter((file) => existsSync(join(root, 'k8s/base', file))) // a missing one fails its own test below
  .flatMap((file) => parseAllDocuments(read(join('k8s/base', file))).map((doc) => doc.toJS() as Manifest));
/** The Secret Strimzi's User Operator writes for a KafkaUser, named after it: the SCRAM password and its JAAS line. */
function kafkaUserSecret(objects: Manifest[], name: string): Manifest | undefined {
  if (!objects.some((m) => m.kind === 'KafkaUser' && m.metadata.name === name)) return undefined;
  return { kind: 'Secret', metadata: { name }, stringData: { password: '', 'sasl.jaas.config': '' } };
}

/**
 * Look-ups in a set of manifests: a base's, or an overlay's as rendered. A Secret an overlay does
 * not apply (prod's comes from the secret store) is read from the base's placeholder, whose keys
 * are the contract that store must meet; a KafkaUser's is the one Strimzi writes.
 */
function lookupsOf(objects: Manifest[], where: string) {
  const manifest = (kind: string, name: string) => {
    const found = objects.find((m) => m.kind === kind && m.metadata.name === name) ?? (kind === 'Secret' ? (manifests.find((m) => m.kind === kind && m.metadata.name === name) ?? kafkaUserSecret(objects, name)) : undefined);
    if (!found) throw new Error(`${where} has no ${kind} "${name}"`);
    return found;
  };
  const containerOf = (name: string) => {
    const container = manifest('Deployment', name).spec?.template?.spec.containers[0];
    if (!container) throw new Error(`Deployment "${name}" has no container`);
    return container;
  };
  /** The env a Deployment's container gets: the ConfigMaps and Secrets it loads whole, and its own `env`. */
  const k8sEnv = (name: string): Record<string, string | undefined> => {
    const container = containerOf(name);
    const loaded = (container.envFrom ?? []).map((source) =>
      source.configMapRef ? manifest('ConfigMap', source.configMapRef.name).data : manifest('Secret', source.secretRef!.name).stringData);
    return Object.assign({}, ...loaded, Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value])));
  };
  return { manifest, containerOf, k8sEnv };
}
const { containerOf } = lookupsOf(manifests, 'k8s/base');
/** Every overlay as `kubectl kustomize` renders it: what is actually applied. */
const renderedOverlays = readdirSync(join(root, 'k8s/overlays')).map((overlay) => [overlay, renderKustomization(join(root, 'k8s/overlays', overlay)) as unknown as Manifest[]] as const);

/** The services whose Deployment loads a ConfigMap whole (envFrom): each gets every key in it. */
const loadersOf = (configMap: string) =>
  services.filter(({ name }) => (containerOf(name).envFrom ?? []).some((source) => source.configMapRef?.name === configMap));

/** The ConfigMap a patch changes: its JSON 6902 target, or the ConfigMap a strategic merge patch names. */
function patchedConfigMap(patch: string, target?: { kind?: string; name?: string }): string | undefined {
  if (target) return target.kind === 'ConfigMap' ? target.name : undefined;
  const docs = parseAllDocuments(patch).map((doc) => doc.toJS() as Partial<Manifest> | null);
  return docs.find((doc) => doc?.kind === 'ConfigMap')?.metadata?.name;
}

/** Env names an overlay's patch sets: ConfigMap data (JSON 6902 `/data/NAME`, or strategic merge) and container `env` entries. */
function envNamesIn(patch: string): string[] {
  const names: string[] = [];
  const visit = (node: unknown, key?: string): void => {
    if (Array.isArray(node)) return node.forEach((item) => visit(item, key));
    if (!node || typeof node !== 'object') return;
    const object = node as Record<string, unknown>;
    if (key === 'env' && typeof object.name === 'string') names.push(object.name);
    if (object.kind === 'ConfigMap' && object.data) names.push(...Object.keys(object.data));
    if (typeof object.op === 'string' && typeof object.path === 'string') {
      names.push(...(/^\/data\/(\w+)$/.exec(object.path)?.slice(1) ?? []));
      if (/\/env(\/|$)/.test(object.path)) visit(object.value, 'env');
    }
    for (const [childKey, child] of Object.entries(object)) visit(child, childKey);
  };
  for (const doc of parseAllDocuments(patch)) visit(doc.toJS());
  return names;
}

describe('k8s', () => {
  it.each(Object.entries(allKustomizations))('%s lists only files and directories that exist', (dir, kustomization) => {
    for (const resource of kustomization.resources ?? []) {
      const path = join(root, dir, resource);
      expect(existsSync(path), `${dir}: ${resource}`).toBe(true);
      if (statSync(path).isDirectory()) expect(existsSync(join(path, 'kustomization.yaml')), `${dir}: ${resource}`).toBe(true);
    }
    for (const { path } of kustomization.patches ?? []) if (path) expect(existsSync(join(root, dir, path)), `${dir}: ${path}`).toBe(true);
  });

  it('lists every manifest of the base in its kustomization', () => {
    const files = readdirSync(join(root, 'k8s/base')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files.filter((f) => !base.resources?.includes(f))).toEqual([]);
  });
});

// The same checks on what is applied: each overlay, rendered (its patches, images, replicas and
// infrastructure included), not only the base it starts from.
describe.each(renderedOverlays)('k8s/overlays/%s, rendered', (overlay, objects) => {
  const { manifest, containerOf, k8sEnv } = lookupsOf(objects, `k8s/overlays/${overlay}`);

  it.each(services)('has a Deployment and a Service for $name on its port', ({ name, port, entry, nodeFlags }) => {
    const container = containerOf(name);
    expect(container.command).toEqual(['node', ...nodeFlags, entry]);
    expect(k8sEnv(name).PORT).toBe(String(port));
    const containerPort = container.ports?.find((p) => p.containerPort === port);
    expect(containerPort, `${name}: containerPort ${port}`).toBeDefined();
    for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
      expect(container[probe]?.httpGet?.path, `${name}: ${probe}`).toBe(path);
      expect([port, containerPort?.name], `${name}: ${probe} port`).toContain(container[probe]?.httpGet?.port);
    }

    const service = manifest('Service', name).spec!;
    expect(service.selector, `${name}: Service selector`).toBeDefined();
    expect(manifest('Deployment', name).spec!.template!.metadata.labels).toMatchObject(service.selector!);
    const servicePort = service.ports?.find((p) => p.port === port);
    expect(servicePort, `${name}: Service port ${port}`).toBeDefined();
    expect([port, containerPort?.name]).toContain(servicePort?.targetPort ?? port);
  });

  it.each(services)('gives $name only env its config reads', ({ name, reads }) => {
    expect(Object.keys(k8sEnv(name)).filter((key) => !reads.has(key))).toEqual([]);
  });

  it.each(subgraphs)('gives $name its own database URL from the Secret', ({ name }) => {
    const databaseUrl = containerOf(name).env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
    expect(databaseUrl, `${name}: DATABASE_URL from a Secret`).toBeDefined();
    const placeholder = manifest('Secret', databaseUrl!.name).stringData?.[databaseUrl!.key];
    expect(new URL(placeholder ?? '').pathname).toBe(`/shopgraph_${name}`);
  });

  it.each(elasticsearchUsers)('gives $name its Elasticsearch URL (credentials and all) from the Secret', ({ name }) => {
    const elasticsearchUrl = containerOf(name).env?.find((e) => e.name === 'ELASTICSEARCH_URL')?.valueFrom?.secretKeyRef;
    expect(elasticsearchUrl, `${name}: ELASTICSEARCH_URL from a Secret`).toBeDefined();
    expect(() => new URL(manifest('Secret', elasticsearchUrl!.name).stringData?.[elasticsearchUrl!.key] ?? '')).not.toThrow();
  });

  it('refers only to Secret and ConfigMap keys that exist', () => {
    for (const { name } of services) {
      for (const { name: variable, valueFrom } of containerOf(name).env ?? []) {
        const secret = valueFrom?.secretKeyRef;
        if (secret) expect(Object.keys(manifest('Secret', secret.name).stringData ?? {}), `${name}: ${variable}`).toContain(secret.key);
        const config = valueFrom?.configMapKeyRef;
        if (config) expect(Object.keys(manifest('ConfigMap', config.name).data ?? {}), `${name}: ${variable}`).toContain(config.key);
      }
    }
  });

  it('routes the router to every subgraph through its Service', () => {
    for (const { name, port } of subgraphs) expect(k8sEnv('router')[subgraphUrlVar(name)], name).toBe(`http://${name}:${port}/graphql`);
  });

  it.each(callers)('points $name at the subgraphs it calls, through their Services', (caller) => {
    for (const { name, port } of calleesOf(caller)) expect(k8sEnv(caller.name)[subgraphUrlVar(name)], name).toBe(`http://${name}:${port}/graphql`);
  });

  it('has one JWT issuer everywhere, with the keys from accounts', () => {
    expect(new Set(jwtUsers.map((s) => k8sEnv(s.name).JWT_ISSUER)).size).toBe(1);
    for (const { name } of jwtUsers) expect(k8sEnv(name).JWT_JWKS_URL, name).toBe(`http://accounts:${accounts.port}/.well-known/jwks.json`);
  });

  it('gives every service that uses Kafka the same brokers and topics', () => {
    for (const { name } of kafkaUsers) {
      expect(k8sEnv(name).KAFKA_BROKERS, `${name}: KAFKA_BROKERS`).toBeDefined();
      for (const broker of brokersOf(k8sEnv(name).KAFKA_BROKERS!)) expect(broker, `${name}: KAFKA_BROKERS`).toMatch(/^[\w.-]+:\d+$/);
    }
    expect(new Set(kafkaUsers.map((s) => k8sEnv(s.name).KAFKA_BROKERS)).size).toBe(1);
    expect(new Set(kafkaUsers.map((s) => k8sEnv(s.name).KAFKA_TOPIC_PREFIX ?? '')).size).toBe(1);
  });

  it('runs no Deployment that is not a service of the code or the infrastructure', () => {
    const deployments = objects.filter((m) => m.kind === 'Deployment' && m.metadata.labels?.['app.kubernetes.io/component'] !== 'infrastructure').map((m) => m.metadata.name);
    expect(deployments.sort()).toEqual(services.map((s) => s.name).sort());
  });
});

describe('k8s kustomizations', () => {
  it.each(Object.entries(allKustomizations))('%s patches in only env that some service reads', (dir, kustomization) => {
    for (const { patch, path, target } of kustomization.patches ?? []) {
      const text = patch ?? read(join(dir, path!));
      const names = envNamesIn(text);
      expect(names.filter((name) => !readBySome.has(name))).toEqual([]);
      // Keys patched into a ConfigMap reach every Deployment that loads it whole: each must read them.
      const configMap = patchedConfigMap(text, target);
      for (const { name, reads } of configMap ? loadersOf(configMap) : []) {
        expect(names.filter((key) => !reads.has(key)), `${dir}: ${configMap} → ${name}`).toEqual([]);
      }
    }
  });
});

describe('the registry', () => {
  it('listens by default on its port, 4100, and reads no JWT settings', () => {
    expect(registry.defaultPort).toBe(registry.port);
    expect(jwtUsers).not.toContain(registry);
  });

  it('has its own database in compose and in the Secret, and its tokens from the Secret', () => {
    expect(new URL(composeEnv('registry').DATABASE_URL ?? '').pathname).toBe('/shopgraph_registry');
    expect(Object.values(compose.configs ?? {}).map((c) => c.content ?? '').join('\n')).toContain('CREATE DATABASE shopgraph_registry;');
    const env = containerOf('registry').env ?? [];
    expect(env.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.key).toBe('registry-database-url');
    expect(env.find((e) => e.name === 'REGISTRY_TOKENS')?.valueFrom?.secretKeyRef?.key).toBe('registry-tokens');
  });
});

describe('the code', () => {
  it.each(subgraphs)('$name listens by default on the port of its routing_url', ({ port, defaultPort }) => {
    expect(defaultPort).toBe(port);
  });

  it('has cart check products with catalog and inventory, and orders read checkouts from cart, catalog and payments and reserve coupons at promotions, not through the router', () => {
    expect(Object.fromEntries(callers.map((caller) => [caller.name, calleesOf(caller).map((s) => s.name).sort()]))).toEqual({
      cart: ['catalog', 'inventory'],
      orders: ['cart', 'catalog', 'payments', 'promotions'],
    });
    expect(readBySome.has('GRAPH_URL')).toBe(false);
  });

  it.each(callers)('$name calls the subgraphs it calls, by default, at their routing_url', (caller) => {
    const routingUrls = new Map(readSupergraphConfig().map((s) => [s.name, s.url]));
    for (const { name } of calleesOf(caller)) expect(caller.defaultOf(subgraphUrlVar(name)), name).toBe(routingUrls.get(name));
  });
});
