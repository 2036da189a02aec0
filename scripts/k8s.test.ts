// The deployment as an operator applies it: every k8s overlay rendered (scripts/k8s-render.ts) and
// each object validated against the schemas of Kubernetes 1.34 (kubernetes-models), the
// NetworkPolicies evaluated against the pods of the overlay, docker-compose.yml validated against
// the Compose Specification's schema (as dclint ships it), and the image pinned to the project's
// Node and patched from the lockfile only. No cluster and no Docker engine needed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KAFKA_VERSIONS } from '../packages/infra/src/kafka.ts';
import { envName } from '../router/src/supergraph.ts';
import { readSupergraphConfig } from './compose.ts';
import { containersOf, renderKustomization, type K8sObject } from './k8s-render.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
type Labels = Record<string, string>;

// --- the code: who calls whom --------------------------------------------------------------------

interface ConfigSchema { shape: Record<string, unknown> }
const readsOf = new Map<string, Set<string>>();
for (const { name } of readSupergraphConfig()) {
  const { configSchema } = (await import(`../subgraphs/${name}/src/config.ts`)) as { configSchema: ConfigSchema };
  readsOf.set(name, new Set(Object.keys(configSchema.shape)));
}
const subgraphNames = [...readsOf.keys()];
const { configSchema: routerSchema } = (await import('../router/src/config.ts')) as { configSchema: ConfigSchema };
readsOf.set('router', new Set(Object.keys(routerSchema.shape)));
/** Who may reach a subgraph: the router, the services that call it directly, and for accounts every JWT verifier (its JWKS). */
function expectedCallers(subgraph: string): string[] {
  const callers = new Set(['router']);
  for (const [service, reads] of readsOf) {
    if (reads.has(`SUBGRAPH_${envName(subgraph)}_URL`)) callers.add(service);
    if (subgraph === 'accounts' && reads.has('JWT_JWKS_URL')) callers.add(service);
  }
  callers.delete(subgraph);
  return [...callers].sort();
}

// --- rendering and schema validation -------------------------------------------------------------

const overlays = readdirSync(join(root, 'k8s/overlays'));
const rendered = new Map(overlays.map((overlay) => [overlay, renderKustomization(join(root, 'k8s/overlays', overlay))]));
const objectsOf = (overlay: string) => rendered.get(overlay)!;
const ofKind = (overlay: string, kind: string) => objectsOf(overlay).filter((o) => o.kind === kind);
const deploymentsOf = (overlay: string) => ofKind(overlay, 'Deployment');
type Spec = Record<string, any>;
const specOf = (object: K8sObject) => object.spec as Spec;

/** kubernetes-models' validating class for an apiVersion and kind (core `v1` or `group/version`). */
async function modelOf(apiVersion: string, kind: string) {
  const module = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = module[kind];
  if (!model) throw new Error(`no Kubernetes schema for ${apiVersion} ${kind}`);
  return model;
}

describe.each(overlays)('k8s/overlays/%s, rendered', (overlay) => {
  it('validates every object against the Kubernetes 1.34 schemas', async () => {
    const invalid: string[] = [];
    for (const object of objectsOf(overlay)) {
      const Model = await modelOf(object.apiVersion, object.kind);
      try {
        new Model(object).validate();
      } catch (error) {
        invalid.push(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it('creates its Namespace and puts every namespaced object in it', () => {
    const namespaces = ofKind(overlay, 'Namespace').map((n) => n.metadata.name);
    expect(namespaces).toHaveLength(1);
    for (const object of objectsOf(overlay).filter((o) => o.kind !== 'Namespace')) expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(namespaces[0]);
  });

  it('runs images by digest or immutable tag, never a moving one', () => {
    for (const container of deploymentsOf(overlay).flatMap(containersOf)) {
      expect(container.image, container.name).toMatch(/^[\w.-]+(:\d+)?\/[\w./-]+(@sha256:[0-9a-f]{64}|:(\d+\.\d+\.\d+[\w.+-]*|sha-[0-9a-f]{7,40})(@sha256:[0-9a-f]{64})?)$/);
      expect(container).not.toHaveProperty('imagePullPolicy', 'Always');
    }
  });

  it('labels every pod part-of shopgraph and guards each Deployment with a PodDisruptionBudget', () => {
    const budgets = ofKind(overlay, 'PodDisruptionBudget');
    for (const deployment of deploymentsOf(overlay)) {
      const labels = specOf(deployment).template.metadata.labels as Labels;
      expect(labels['app.kubernetes.io/part-of'], deployment.metadata.name).toBe('shopgraph');
      const budget = budgets.find((b) => matches(specOf(b).selector, labels));
      expect(budget, `${deployment.metadata.name}: PodDisruptionBudget`).toBeDefined();
      expect(specOf(budget!).maxUnavailable ?? specOf(deployment).replicas - specOf(budget!).minAvailable, deployment.metadata.name).toBe(1);
    }
  });

  it('lets a subgraph be reached only by the router and the services that call it', () => {
    const policies = ofKind(overlay, 'NetworkPolicy');
    const namespace = ofKind(overlay, 'Namespace')[0]!.metadata.name;
    const pods = deploymentsOf(overlay).map((d) => ({ namespace, labels: specOf(d).template.metadata.labels as Labels, port: specOf(d).template.spec.containers[0].ports[0].containerPort as number }));
    const podOf = (name: string) => pods.find((p) => p.labels['app.kubernetes.io/name'] === name)!;
    const intruders = [
      { namespace, labels: { 'app.kubernetes.io/name': 'intruder', 'app.kubernetes.io/part-of': 'shopgraph' } },
      { namespace: 'default', labels: { 'app.kubernetes.io/name': 'router', 'app.kubernetes.io/part-of': 'shopgraph' } },
    ];
    for (const subgraph of subgraphNames) {
      const target = podOf(subgraph);
      const allowed = pods.filter((source) => source !== target && admits(policies, source, target, target.port)).map((p) => p.labels['app.kubernetes.io/name']!).sort();
      expect(allowed, subgraph).toEqual(expectedCallers(subgraph));
      for (const intruder of intruders) expect(admits(policies, intruder, target, target.port), `${subgraph} from ${JSON.stringify(intruder)}`).toBe(false);
    }
    // The router is the entry point: reachable from anywhere.
    expect(admits(policies, intruders[1]!, podOf('router'), podOf('router').port)).toBe(true);
  });

  it(overlay === 'prod' ? 'autoscales the router and every subgraph on CPU, and spreads their pods' : 'runs fixed replicas, without autoscalers', () => {
    const autoscalers = ofKind(overlay, 'HorizontalPodAutoscaler');
    if (overlay !== 'prod') return expect(autoscalers).toEqual([]);
    for (const name of ['router', ...subgraphNames]) {
      const hpa = autoscalers.find((h) => specOf(h).scaleTargetRef.kind === 'Deployment' && specOf(h).scaleTargetRef.name === name);
      expect(hpa, `${name}: HorizontalPodAutoscaler`).toBeDefined();
      expect(specOf(hpa!).metrics.map((m: Spec) => m.resource?.name)).toContain('cpu');
      const deployment = deploymentsOf(overlay).find((d) => d.metadata.name === name)!;
      expect(specOf(hpa!).minReplicas, name).toBe(specOf(deployment).replicas);
      expect(specOf(hpa!).minReplicas, name).toBeGreaterThanOrEqual(2);
      const terms = specOf(deployment).template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution as Spec[] | undefined;
      expect(terms?.map((t) => t.podAffinityTerm.topologyKey), name).toContain('kubernetes.io/hostname');
    }
  });
});

// --- a NetworkPolicy evaluator (ingress only, pod and namespace selectors) ----------------------

interface Pod { namespace: string; labels: Labels }
interface Selector { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] }

function matches(selector: Selector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return byLabels && (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In': return values.includes(labels[key]!);
      case 'NotIn': return !values.includes(labels[key]!);
      case 'Exists': return key in labels;
      case 'DoesNotExist': return !(key in labels);
      default: throw new Error(`selector operator ${operator}`);
    }
  });
}

/** Whether the policies let `source` open a TCP connection to `target` on `port`. */
function admits(policies: K8sObject[], source: Pod, target: Pod, port: number): boolean {
  const selecting = policies.filter((p) => p.metadata.namespace === target.namespace && matches(specOf(p).podSelector, target.labels) && (specOf(p).policyTypes ?? ['Ingress']).includes('Ingress'));
  if (selecting.length === 0) return true;
  const namespaceLabels: Labels = { 'kubernetes.io/metadata.name': source.namespace };
  return selecting.some((policy) => ((specOf(policy).ingress ?? []) as Spec[]).some((rule) => {
    const portOk = !rule.ports || (rule.ports as Spec[]).some((p) => p.port === undefined || p.port === port);
    const peerOk = !rule.from || (rule.from as Spec[]).length === 0 || (rule.from as Spec[]).some((peer) => {
      if (peer.ipBlock) return false; // pods are not addressed by ipBlock here
      const inNamespace = peer.namespaceSelector ? matches(peer.namespaceSelector, namespaceLabels) || Object.keys(peer.namespaceSelector).length === 0 : source.namespace === target.namespace;
      return inNamespace && (!peer.podSelector || matches(peer.podSelector, source.labels) || Object.keys(peer.podSelector).length === 0);
    });
    return portOk && peerOk;
  }));
}

// --- docker-compose.yml and the image ------------------------------------------------------------

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { image?: string; healthcheck?: { test: string[] } }> };

  it('is valid against the Compose Specification schema', () => {
    const require = createRequire(import.meta.url);
    const schemaPath = join(dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    // Draft-07, Ajv's default, under an https $schema URL Ajv does not know by that name.
    const { $schema, ...schema } = JSON.parse(readFileSync(schemaPath, 'utf8')) as { $schema: string };
    expect($schema).toContain('draft-07');
    const validate = ajv.compile(schema);
    // The spec's schema sees the file as Compose does, anchors and merge keys resolved.
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
  });

  it('runs the Kafka version the project runs elsewhere', () => {
    expect(compose.services.kafka?.image).toBe(`apache/kafka:${KAFKA_VERSIONS[0]}`);
  });

  it('checks Postgres over TCP, which the init server does not listen on', () => {
    const test = compose.services.postgres?.healthcheck?.test ?? [];
    expect(test.slice(test.indexOf('-h'), test.indexOf('-h') + 2)).toEqual(['-h', '127.0.0.1']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const { devDependencies } = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };

  it("builds on the project's Node, by immutable tag", () => {
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${devDependencies.node!.replaceAll('.', '\\.')}-bookworm-slim$`, 'm'));
  });

  it('installs patch-package from the lockfile only, at the version the root installs', () => {
    expect(dockerfile).not.toMatch(/(^RUN|&&|\\\n)\s*(npx|npm (install|i|exec)) /m);
    const script = /RUN node --input-type=module <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(dockerfile)?.[1];
    expect(script, 'the patch-tool script').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'patch-tool-'));
    writeFileSync(join(dir, 'script.mjs'), script!.replaceAll('/manifests/package-lock.json', join(root, 'package-lock.json')));
    execFileSync(process.execPath, [join(dir, 'script.mjs')], { cwd: dir });
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; integrity?: string; resolved?: string }> };
    const rootLock = JSON.parse(read('package-lock.json')) as typeof lock;
    expect(lock.packages['node_modules/patch-package']?.version).toBe(devDependencies['patch-package']);
    for (const [path, entry] of Object.entries(lock.packages).filter(([path]) => path !== '')) {
      expect(entry, path).toEqual(rootLock.packages[path]);
      expect(entry.integrity, path).toBeDefined();
    }
  });
});
