// Every service signs in to Kafka over TLS as its own user, and that user may do what the code needs
// and no more, in compose (kafka-init's users, topics and ACLs) and in prod (Strimzi KafkaUsers): both
// against scripts/kafka-access.ts's model of who records and consumes what.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSupergraphConfig } from './compose.ts';
import { composeScript, readComposeFile } from './compose-file.ts';
import { aclsOf, kafkaAccess, replayAclsOf, topicsOf, type AclKey } from './kafka-access.ts';
import { renderKustomization, type K8sObject } from './k8s-render.ts';

const root = join(import.meta.dirname, '..');
const access = kafkaAccess(readSupergraphConfig().map(({ name }) => name));

interface ComposeService { environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; network_mode?: string; image?: string; volumes?: string[] }
const compose = readComposeFile<{ services: Record<string, ComposeService> }>();

/** kafka-init's script as bash sees it, and the lists in its heredocs. */
const script = composeScript('kafka-init');
const heredoc = (name: string) => new RegExp(`<<'${name}'\\n([\\s\\S]*?)\\n${name}\\n`).exec(script)![1]!.split('\n');
const composeUsers = new Map(heredoc('USERS').map((line) => line.split(' ') as [string, string]));
/** kafka-init's ACL lines as the access model's keys, by user. */
function composeAcls(): Map<string, AclKey[]> {
  const byUser = new Map<string, AclKey[]>();
  for (const line of heredoc('ACLS')) {
    const [users, operations, type, pattern, ...names] = line.split(' ') as [string, string, string, string, ...string[]];
    for (const user of users.split(',')) {
      for (const operation of operations.split(',')) for (const name of names) byUser.set(user, [...(byUser.get(user) ?? []), `${type}:${name}:${pattern === 'prefixed' ? 'prefix' : pattern}:${operation}`]);
    }
  }
  return byUser;
}

describe('docker-compose.yml: Kafka with SASL/SCRAM and ACLs', () => {
  it('serves the services on a TLS and SCRAM listener only, with ACLs; plaintext stays on the broker’s loopback', () => {
    const env = compose.services['kafka']!.environment!;
    const protocols = Object.fromEntries(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP!.split(',').map((entry) => entry.split(':') as [string, string]));
    for (const listener of env.KAFKA_LISTENERS!.split(',')) {
      const [, name, host] = /^(\w+):\/\/([^:]*):\d+$/.exec(listener)!;
      if (protocols[name!] === 'PLAINTEXT') expect(host, listener).toBe('localhost');
      else expect(protocols[name!], listener).toBe('SASL_SSL');
    }
    // The key kafka-tls makes, in the volume only the broker (and kafka-tls) mounts; the services get the CA's certificate.
    expect(env).toMatchObject({ KAFKA_SSL_KEYSTORE_FILENAME: 'broker.p12', KAFKA_SSL_KEYSTORE_CREDENTIALS: 'broker-password', KAFKA_SSL_KEY_CREDENTIALS: 'broker-password' });
    const mounting = (volume: string) => Object.entries(compose.services).filter(([, service]) => (service.volumes ?? []).some((v) => v.startsWith(`${volume}:`))).map(([name]) => name).sort();
    expect(mounting('kafka-secrets')).toEqual(['kafka', 'kafka-tls']);
    expect(mounting('kafka-ca')).toEqual(['kafka-tls', ...access.map((a) => a.service)].sort());
    expect(compose.services['kafka']!.depends_on).toMatchObject({ 'kafka-tls': { condition: 'service_completed_successfully' } });
    expect(env.KAFKA_SASL_ENABLED_MECHANISMS).toBe('SCRAM-SHA-512');
    expect(env.KAFKA_AUTHORIZER_CLASS_NAME).toBe('org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(env.KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND).toBe('false');
    expect(compose.services['kafka-init']).toMatchObject({ image: compose.services['kafka']!.image, network_mode: 'service:kafka' });
  });

  it.each(access.map((a) => a.service))('signs %s in as its own user, once kafka-init has made it', (service) => {
    const { environment: env = {}, depends_on: after = {} } = compose.services[service]!;
    expect(env).toMatchObject({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: service, KAFKA_SASL_PASSWORD: composeUsers.get(service), KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/kafka-ca/ca.crt' });
    expect(after['kafka-init']).toEqual({ condition: 'service_completed_successfully' });
  });

  it('creates exactly the users, topics and ACLs the code needs', () => {
    const users = [...access.map((a) => a.service), 'dlq-replay'].sort();
    expect([...composeUsers.keys()].sort()).toEqual(users);
    expect(/for topic in ([^;]+);/.exec(script)![1]!.split(' ')).toEqual(topicsOf(access));
    const acls = composeAcls();
    expect([...acls.keys()].sort()).toEqual(users);
    for (const a of access) expect(acls.get(a.service)!.sort(), a.service).toEqual(aclsOf(a));
    // The operator's `npm run dlq:replay`, as the prod KafkaUser dlq-replay.
    expect(acls.get('dlq-replay')!.sort()).toEqual(replayAclsOf(access));
  });
});

describe('k8s/overlays/prod: each service signs in as its KafkaUser', () => {
  const objects = renderKustomization(join(root, 'k8s/overlays/prod'));
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  type Container = { envFrom?: { configMapRef?: { name: string } }[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] };
  type PodSpec = { containers: Container[]; volumes?: { name: string; secret?: unknown }[] };
  const podOf = (deployment: K8sObject) => (deployment.spec as { template: { spec: PodSpec } }).template.spec;
  const containerOf = (deployment: K8sObject) => podOf(deployment).containers[0]!;

  it('listens for them with TLS and SCRAM only', () => {
    const listeners = (find('Kafka', 'shopgraph')!.spec as { kafka: { listeners: { name: string; port: number; tls: boolean; authentication?: { type: string } }[] } }).kafka.listeners;
    expect(listeners.map(({ port, tls, authentication }) => ({ port, tls, authentication }))).toEqual([{ port: 9093, tls: true, authentication: { type: 'scram-sha-512' } }]);
    expect(find('ConfigMap', 'shopgraph-kafka')!.data).toMatchObject({ KAFKA_BROKERS: 'shopgraph-kafka-bootstrap:9093', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/kafka-ca/ca.crt' });
  });

  it.each(access.map((a) => a.service))('%s: over TLS checked against the cluster CA, scram-sha-512, its name, the password of its KafkaUser’s Secret', (service) => {
    expect(find('KafkaUser', service), `KafkaUser ${service}`).toBeDefined();
    const deployment = find('Deployment', service)!;
    expect(podOf(deployment).volumes).toContainEqual({ name: 'kafka-ca', secret: { secretName: 'shopgraph-kafka-cluster-ca-cert', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(containerOf(deployment).volumeMounts).toContainEqual({ name: 'kafka-ca', mountPath: '/etc/kafka-ca', readOnly: true });
    const container = containerOf(deployment);
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
    expect(env['KAFKA_SASL_USERNAME']).toEqual({ name: 'KAFKA_SASL_USERNAME', value: service });
    expect(env['KAFKA_SASL_PASSWORD']).toEqual({ name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: service, key: 'password' } } });
    const loaded = (container.envFrom ?? []).map((source) => find('ConfigMap', source.configMapRef?.name ?? '')?.data as Record<string, string> | undefined);
    expect(Object.assign({}, ...loaded)).toMatchObject({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/kafka-ca/ca.crt' });
  });
});
