// The deployment as an operator applies it: every k8s overlay rendered (scripts/k8s-render.ts) and
// each object validated strictly (scripts/k8s-schema.ts: Kubernetes 1.34's schemas, Strimzi's,
// CloudNativePG's and a subset of ECK's, unknown field names refused), the NetworkPolicies
// evaluated against the pods of the overlay (the services' and the infrastructure's), Kafka's
// topics and per-service ACLs compared with the code, docker-compose.yml validated against
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
import { KAFKA_VERSIONS } from '../packages/infra/src/kafka.ts';
import { envName } from '../router/src/supergraph.ts';
import { readSupergraphConfig } from './compose.ts';
import { readComposeFile } from './compose-file.ts';
import { aclsOf, kafkaAccess, replayAclsOf, topicsOf } from './kafka-access.ts';
import { containersOf, renderKustomization, type K8sObject } from './k8s-render.ts';
import { problemsOf } from './k8s-schema.ts';

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
type Spec = Record<string, any>;
const specOf = (object: K8sObject) => object.spec as Spec;
const isInfrastructure = (object: K8sObject) => object.metadata.labels?.['app.kubernetes.io/component'] === 'infrastructure';
/** The workloads of the product's own services (not the infrastructure's). */
const deploymentsOf = (overlay: string) => ofKind(overlay, 'Deployment').filter((d) => !isInfrastructure(d));
/** Every workload the overlay runs itself: the services' and, in dev, the infrastructure's. */
const workloadsOf = (overlay: string) => objectsOf(overlay).filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

describe.each(overlays)('k8s/overlays/%s, rendered', (overlay) => {
  it('validates every object, strictly, against its schema (Kubernetes 1.34, Strimzi, CloudNativePG, ECK)', async () => {
    const invalid: string[] = [];
    for (const object of objectsOf(overlay)) for (const problem of await problemsOf(object)) invalid.push(`${object.kind} ${object.metadata.name}: ${problem}`);
    expect(invalid).toEqual([]);
  });

  it('creates its Namespace and puts every namespaced object in it', () => {
    const namespaces = ofKind(overlay, 'Namespace').map((n) => n.metadata.name);
    expect(namespaces).toHaveLength(1);
    for (const object of objectsOf(overlay).filter((o) => o.kind !== 'Namespace')) expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(namespaces[0]);
  });

  it('runs images from a named registry by digest or immutable tag, never a moving one', () => {
    for (const container of workloadsOf(overlay).flatMap(containersOf)) {
      expect(container.image, container.name).toMatch(/^[\w.-]+(:\d+)?\/[\w./-]+(@sha256:[0-9a-f]{64}|:(v?\d+\.\d+(\.\d+)?[\w.+-]*|sha-[0-9a-f]{7,40})(@sha256:[0-9a-f]{64})?)$/);
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
    const pods = workloadsOf(overlay).map((d) => ({ namespace, labels: specOf(d).template.metadata.labels as Labels, port: specOf(d).template.spec.containers[0].ports[0].containerPort as number }));
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

  it('lets each piece of infrastructure be reached only by the services configured to use it', () => {
    const namespace = ofKind(overlay, 'Namespace')[0]!.metadata.name;
    const services = deploymentsOf(overlay).map((d) => ({ namespace, labels: specOf(d).template.metadata.labels as Labels, env: envNamesOf(overlay, d) }));
    const infrastructure = infrastructureOf(overlay);
    expect(infrastructure.map((i) => i.name).sort(), 'infrastructure').toEqual(overlay === 'prod' ? ['elasticsearch', 'kafka', 'postgres'] : ['elasticsearch', 'kafka', 'maildev', 'postgres', 'redis', 'zipkin']);
    for (const { name, labels, port, policies } of infrastructure) {
      const target = { namespace, labels };
      const clients = services.filter((s) => s.env.has(clientEnv[name]!)).map((s) => s.labels['app.kubernetes.io/name']!).sort();
      expect(clients.length, `${name}: clients`).toBeGreaterThan(0);
      const admitted = services.filter((source) => admits(policies, source, target, port)).map((s) => s.labels['app.kubernetes.io/name']!).sort();
      expect(admitted, name).toEqual(clients);
      const intruders: Pod[] = [{ namespace, labels: { 'app.kubernetes.io/name': 'intruder', 'app.kubernetes.io/part-of': 'shopgraph' } }, { namespace: 'default', labels: { 'app.kubernetes.io/name': clients[0]! } }];
      for (const intruder of intruders) expect(admits(policies, intruder, target, port), `${name} from ${JSON.stringify(intruder)}`).toBe(false);
    }
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

// --- infrastructure: its pods, its clients --------------------------------------------------------

/** The env variable that points a service at each piece of infrastructure. */
const clientEnv: Record<string, string> = {
  postgres: 'DATABASE_URL',
  kafka: 'KAFKA_BROKERS',
  redis: 'REDIS_URL',
  elasticsearch: 'ELASTICSEARCH_URL',
  maildev: 'SMTP_URL',
  zipkin: 'OTEL_EXPORTER_ZIPKIN_ENDPOINT',
};

/** The env names a rendered Deployment's container gets: its own `env` and the ConfigMaps it loads whole. */
function envNamesOf(overlay: string, deployment: K8sObject): Set<string> {
  const container = specOf(deployment).template.spec.containers[0] as Spec;
  const names = new Set<string>(((container.env ?? []) as Spec[]).map((e) => e.name as string));
  for (const source of (container.envFrom ?? []) as Spec[]) {
    const configMap = ofKind(overlay, 'ConfigMap').find((c) => c.metadata.name === source.configMapRef?.name);
    for (const key of Object.keys((configMap?.data ?? {}) as Labels)) names.add(key);
  }
  return names;
}

interface Infrastructure { name: string; labels: Labels; port: number; policies: K8sObject[] }

/**
 * The infrastructure's pods and the policies that guard them. Dev runs them itself (workloads
 * labelled component=infrastructure). Prod's are the operators' pods, with the labels each operator
 * gives them; Kafka's NetworkPolicy is the one Strimzi writes from the listener's networkPolicyPeers.
 */
function infrastructureOf(overlay: string): Infrastructure[] {
  const policies = ofKind(overlay, 'NetworkPolicy');
  const namespace = ofKind(overlay, 'Namespace')[0]!.metadata.name;
  const own = objectsOf(overlay).filter((o) => isInfrastructure(o) && (o.kind === 'Deployment' || o.kind === 'StatefulSet')).map((w) => ({
    name: w.metadata.name,
    labels: specOf(w).template.metadata.labels as Labels,
    port: specOf(w).template.spec.containers[0].ports[0].containerPort as number,
    policies,
  }));
  const kafkas = ofKind(overlay, 'Kafka').map((kafka) => {
    const listener = (specOf(kafka).kafka.listeners as Spec[]).find((l) => l.authentication?.type === 'scram-sha-512')!;
    const labels = { 'strimzi.io/cluster': kafka.metadata.name, 'strimzi.io/kind': 'Kafka' };
    const strimziPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `${kafka.metadata.name}-network-policy-kafka`, namespace }, spec: { podSelector: { matchLabels: labels }, policyTypes: ['Ingress'], ingress: [{ from: listener.networkPolicyPeers ?? [], ports: [{ port: listener.port }] }] } } as K8sObject;
    // No peers would mean Strimzi lets anyone reach the listener.
    expect(listener.networkPolicyPeers, 'Kafka listener networkPolicyPeers').toBeDefined();
    return { name: 'kafka', labels, port: listener.port as number, policies: [...policies, strimziPolicy] };
  });
  const postgres = ofKind(overlay, 'Cluster').map((c) => ({ name: 'postgres', labels: { 'cnpg.io/cluster': c.metadata.name }, port: 5432, policies }));
  const elasticsearch = ofKind(overlay, 'Elasticsearch').map((e) => ({ name: 'elasticsearch', labels: { 'elasticsearch.k8s.elastic.co/cluster-name': e.metadata.name }, port: 9200, policies }));
  return [...own, ...kafkas, ...postgres, ...elasticsearch];
}

// --- prod's Kafka: topics, users and ACLs against the code ----------------------------------------

describe('k8s/overlays/prod, Kafka (Strimzi)', () => {
  const kafkaUsers = subgraphNames.filter((name) => readsOf.get(name)!.has('KAFKA_BROKERS'));
  const access = kafkaAccess(kafkaUsers);
  const aclKeysOf = (user: K8sObject) =>
    ((specOf(user).authorization?.acls ?? []) as Spec[]).flatMap((acl) => {
      expect(acl.type ?? 'allow', `${user.metadata.name}: deny ACLs are not used`).toBe('allow');
      return (acl.operations as string[]).map((operation) => `${acl.resource.type}:${acl.resource.name}:${acl.resource.patternType ?? 'literal'}:${operation}`);
    }).sort();

  it('runs one KRaft cluster: a node pool of controllers and brokers, no ZooKeeper', () => {
    const [kafka, ...others] = ofKind('prod', 'Kafka');
    expect(others).toEqual([]);
    const pools = ofKind('prod', 'KafkaNodePool').filter((p) => p.metadata.labels?.['strimzi.io/cluster'] === kafka!.metadata.name);
    expect(pools.flatMap((p) => specOf(p).roles as string[]).sort()).toEqual(['broker', 'controller']);
    expect(specOf(kafka!).zookeeper).toBeUndefined();
  });

  it('has a KafkaTopic for every topic the code uses (contracts and dead letters), and no other', () => {
    const declared = ofKind('prod', 'KafkaTopic').map((t) => (specOf(t).topicName as string | undefined) ?? t.metadata.name).sort();
    expect(declared).toEqual(topicsOf(access));
  });

  it('gives every service that uses Kafka a SCRAM-SHA-512 user whose ACLs are exactly what its code needs', () => {
    const users = ofKind('prod', 'KafkaUser');
    expect(users.map((u) => u.metadata.name).sort()).toEqual([...kafkaUsers, 'dlq-replay'].sort());
    for (const user of users) {
      expect(specOf(user).authentication?.type, user.metadata.name).toBe('scram-sha-512');
      const service = access.find((a) => a.service === user.metadata.name);
      expect(aclKeysOf(user), user.metadata.name).toEqual(service ? aclsOf(service) : replayAclsOf(access));
    }
  });

  it('derives the ACLs from what each service records and consumes', () => {
    // The derivation itself, on what the checkout saga is known to do.
    const orders = access.find((a) => a.service === 'orders')!;
    expect(orders.writes).toEqual(['orders.order.v1']);
    expect(orders.consumers.find((c) => c.group === 'orders.saga')?.topics).toEqual(expect.arrayContaining(['inventory.stock.v1', 'payments.payment.v1']));
    expect(aclsOf(orders)).not.toContain('topic:inventory.stock.v1:literal:Write');
    const writers = access.filter((a) => a.writes.includes('orders.order.v1')).map((a) => a.service);
    expect(writers).toEqual(['orders']);
  });

  it("points the services at the cluster's SCRAM listener", () => {
    const kafka = ofKind('prod', 'Kafka')[0]!;
    const listener = (specOf(kafka).kafka.listeners as Spec[]).find((l) => l.authentication?.type === 'scram-sha-512')!;
    const config = ofKind('prod', 'ConfigMap').find((c) => c.metadata.name === 'shopgraph-kafka')!;
    expect((config.data as Labels).KAFKA_BROKERS).toBe(`${kafka.metadata.name}-kafka-bootstrap:${listener.port}`);
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
  const compose = readComposeFile<{ services: Record<string, { image?: string; healthcheck?: { test: string[] } }> }>();

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
