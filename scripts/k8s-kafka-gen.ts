// Writes k8s/overlays/prod/infra/kafka-topics.yaml and kafka-users.yaml from the code (see
// scripts/kafka-access.ts): run `npm run k8s:kafka` when scripts/k8s.test.ts reports
// that a service records or consumes something new, and review the diff.
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSupergraphConfig } from './compose.ts';
import { aclsOf, kafkaAccess, replayAclsOf, topicsOf, type AclKey } from './kafka-access.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cluster = 'shopgraph';
const access = kafkaAccess(readSupergraphConfig().map((s) => s.name));
const metadata = (kind: string, name: string) => `apiVersion: kafka.strimzi.io/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\n  labels:\n    strimzi.io/cluster: ${cluster}\n`;

const topicsYaml = `# One KafkaTopic per topic the code uses (the Topic Operator creates and keeps them): the event
# contracts' topics (events/src/contracts) and each consumer group's dead-letter topic
# (<service>.<consumer>.dlq). The partitions are the services' own (DEFAULT_PARTITIONS, 3), so
# keys keep their partition whoever creates the topic first. Written by "npm run k8s:kafka" (scripts/k8s-kafka-gen.ts);
# scripts/k8s.test.ts fails when the code and this list differ.
${topicsOf(access).map((topic) => `${metadata('KafkaTopic', topic)}spec:
  partitions: 3
  replicas: 3
  config:
    min.insync.replicas: 2
${topic.endsWith('.dlq') ? '    # Dead letters wait for an operator: kept four weeks.\n    retention.ms: 2419200000\n' : '    # The outboxes hold what a consumer missed for longer: a week covers an outage.\n    retention.ms: 604800000\n'}`).join('---\n')}`;

/** ACLs grouped by resource, one entry per resource with its operations. */
const aclsYaml = (keys: AclKey[]) => {
  const byResource = new Map<string, string[]>();
  for (const key of keys) {
    const at = key.lastIndexOf(':');
    byResource.set(key.slice(0, at), [...(byResource.get(key.slice(0, at)) ?? []), key.slice(at + 1)]);
  }
  return [...byResource].map(([resource, operations]) => {
    const [type, name, patternType] = resource.split(':');
    return `      - resource: { type: ${type}, name: ${name}, patternType: ${patternType} }\n        operations: [${operations.join(', ')}]\n`;
  }).join('');
};
const user = (name: string, acls: AclKey[]) => `${metadata('KafkaUser', name)}spec:
  authentication:
    type: scram-sha-512
  authorization:
    type: simple
    acls:
${aclsYaml(acls)}`;

const usersYaml = `# One KafkaUser per service that uses Kafka: SCRAM-SHA-512 credentials (the User Operator keeps
# the password in a Secret of the user's name) and ACLs that let it write only the topics of the
# events it records (and its dead-letter topics), read only the topics it consumes, with its own
# consumer groups, and describe the contract topics it checks at start. Written by
# "npm run k8s:kafka" from the code (recordEvent calls, each app.ts's consumers);
# scripts/k8s.test.ts fails on any difference.
${access.map((a) => user(a.service, aclsOf(a))).join('---\n')}---
# \`npm run dlq:replay -- <group>\`, run by an operator: reads each dead-letter topic with the group
# <group>.dlq-replay and sends the messages back to the topics that group consumes.
${user('dlq-replay', replayAclsOf(access))}`;

writeFileSync(join(root, 'k8s/overlays/prod/infra/kafka-topics.yaml'), topicsYaml);
writeFileSync(join(root, 'k8s/overlays/prod/infra/kafka-users.yaml'), usersYaml);
