// Services trust only who they should on Kafka: a broker of this file's own with TLS, SASL/SCRAM
// and ACLs (infra's startKafka `sasl` option), users for two real services, and their ACLs generated
// from the code's model (scripts/kafka-access.ts, as the prod KafkaUsers are). The broker's key and
// certificate come from docker-compose.yml's kafka-tls script, run here as that service runs it.
// Each service, through the kit's own client configured as from its environment, connects over TLS
// (the broker's certificate checked against that CA), writes its topics and consumes what it reads;
// everything else is refused by the broker.
import { contracts, createEvent, ownerOf, topics, type EventData, type EventType } from '@shopgraph/events';
import { repoDirs, startKafka, type KafkaHandle } from '@shopgraph/infra';
import { createTestDatabase, testLogger } from '@shopgraph/testkit';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes, type AclEntry } from 'kafkajs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeScript } from '../../../scripts/compose-file.ts';
import { aclsOf, kafkaAccess, topicsOf, type KafkaAccess } from '../../../scripts/kafka-access.ts';
import type { Orm } from '../src/db.ts';
import { startConsumer, type MessageOutcome } from '../src/messaging/consumer.ts';
import { internalsOf } from '../src/messaging/internal.ts';
import { createKafka, kafkaConfig, kafkaSecurity, type KafkaClient } from '../src/messaging/kafka.ts';
import type { Runner } from '../src/messaging/relay.ts';
import { openMessagingDatabase } from './support.ts';

const SERVICES = ['inventory', 'payments'] as const;
const password = () => randomBytes(12).toString('hex');
const admin = { username: 'admin', password: password() };
const passwords = Object.fromEntries(SERVICES.map((service) => [service, password()])) as Record<(typeof SERVICES)[number], string>;
const logger = testLogger('kafka-acl');

const dataDir = mkdtempSync(join(tmpdir(), 'kit-kafka-acl-'));
let broker: KafkaHandle;
let access: KafkaAccess[];
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: Orm;
const clients: KafkaClient[] = [];
const runners: Runner[] = [];

/** An ACL of the access model (`topic:<name>:literal:Write`) as kafkajs creates it, for a service's user. */
function aclEntry(service: string, key: string): AclEntry {
  const [type, name, pattern, operation] = key.split(':') as [string, string, string, string];
  return {
    resourceType: type === 'topic' ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
    resourceName: name,
    resourcePatternType: pattern === 'prefix' ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    principal: `User:${service}`,
    host: '*',
    operation: { Read: AclOperationTypes.READ, Write: AclOperationTypes.WRITE, Describe: AclOperationTypes.DESCRIBE, Delete: AclOperationTypes.DELETE }[operation]!,
    permissionType: AclPermissionTypes.ALLOW,
  };
}

const secretsDir = join(dataDir, 'secrets');
const caFile = join(secretsDir, 'ca.crt');

/** docker-compose.yml's kafka-tls script, run as its service runs it, for this broker's name: the CA's certificate and the broker's keystore in `secretsDir`. */
function makeBrokerCertificates(): { keystore: string; password: string } {
  mkdirSync(secretsDir);
  const env = { ...process.env, SECRETS: secretsDir, CA_DIR: secretsDir, OWNER: userInfo().username, BROKER_NAMES: 'ip:127.0.0.1' };
  execFileSync('bash', ['-c', composeScript('kafka-tls')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return { keystore: join(secretsDir, 'broker.p12'), password: readFileSync(join(secretsDir, 'broker-password'), 'utf8') };
}

/** The kit's client as a service builds it from its environment (KAFKA_SASL_*, and KAFKA_SSL* as `tls` says: the services', by default). */
function serviceKafka(username: string, secret: string, tls: Record<string, string> = { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: caFile }): KafkaClient {
  const config = kafkaConfig.parse({ KAFKA_BROKERS: broker.brokers.join(','), KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: secret, ...tls });
  const client = createKafka({ brokers: config.KAFKA_BROKERS, clientId: username, logger, security: kafkaSecurity(config) });
  clients.push(client);
  return client;
}

/** 'signed in', or why the broker would not have the client. */
async function signIn(client: KafkaClient): Promise<string> {
  const admin = internalsOf(client).kafka.admin({ retry: { retries: 0 } });
  const outcome = await admin.connect().then(() => 'signed in', (error: unknown) => errorText(error));
  await admin.disconnect().catch(() => {});
  return outcome;
}

/** A recorded sample's data, as a new event of its type signed by the type's owner. */
function sampleEvent<T extends EventType>(type: T) {
  const sample = JSON.parse(readFileSync(join(import.meta.dirname, '../../../events/samples', `${type}.v${contracts[type].dataVersion}.json`), 'utf8')) as { subject: string; data: EventData<T> };
  return createEvent(type, ownerOf(contracts[type].topic)!, sample.subject, sample.data);
}
const asMessage = (event: ReturnType<typeof sampleEvent>) => ({ topic: contracts[event.type].topic, key: event.subject, value: JSON.stringify(event), headers: { 'event-id': event.id, 'event-type': event.type } });

/** Every message, type and name of an error and the errors it wraps (kafkajs nests them). */
function errorText(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 6) return String(error);
  const e = error as Error & { type?: string; cause?: unknown; originalError?: unknown; errors?: unknown[] };
  return [e.name, e.type, e.message, ...(e.cause ? [errorText(e.cause, depth + 1)] : []), ...(e.originalError ? [errorText(e.originalError, depth + 1)] : []), ...(e.errors ?? []).map((x) => errorText(x, depth + 1))].filter(Boolean).join(' | ');
}

/** A broker still setting up a group's coordinator (the offsets topic is new): the consumer starts again. */
const notYet = /LOAD_IN_PROGRESS|COORDINATOR_NOT_AVAILABLE|NOT_COORDINATOR/;

/** What a plain consumer of `group` gets from `topic` (which holds a message): a message, or the broker's refusal. */
async function tryToRead(client: KafkaClient, group: string, topic: string): Promise<string> {
  const consumer = internalsOf(client).kafka.consumer({ groupId: group, sessionTimeout: 6_000, heartbeatInterval: 1_000, retry: { retries: 0, restartOnFailure: async (error) => notYet.test(errorText(error)) } });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('neither a message nor a refusal within 30 s'), 30_000);
      const done = (outcome: string) => (clearTimeout(timer), resolve(outcome));
      consumer.on(consumer.events.CRASH, ({ payload }) => void (notYet.test(errorText(payload.error)) || done(`refused: ${errorText(payload.error)}`)));
      void (async () => {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        // No commits: the kit's consumer of the same group, later, still finds every message.
        await consumer.run({ autoCommit: false, eachMessage: async () => done('read') });
      })().catch((error: unknown) => done(`refused: ${errorText(error)}`));
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

beforeAll(async () => {
  const tls = { ...makeBrokerCertificates(), caFile };
  broker = await startKafka({ cacheDir: repoDirs().cache, dataDir, sasl: { admin, users: SERVICES.map((service) => ({ username: service, password: passwords[service] })), tls } });
  access = kafkaAccess(SERVICES);
  // As in prod: the operator creates the topics and each service's ACLs (Strimzi's KafkaTopics and KafkaUsers).
  const operator = new Kafka({ clientId: 'acl-operator', brokers: broker.brokers, sasl: broker.sasl!, ssl: broker.ssl!, logLevel: logLevel.NOTHING });
  const ops = operator.admin();
  await ops.connect();
  try {
    await ops.createTopics({ waitForLeaders: true, topics: topicsOf(access).map((topic) => ({ topic, numPartitions: 1 })) });
    await ops.createAcls({ acl: access.flatMap((a) => aclsOf(a).map((key) => aclEntry(a.service, key))) });
  } finally {
    await ops.disconnect();
  }
  db = await createTestDatabase('kafka_acl');
  orm = await openMessagingDatabase(db.url);
}, 300_000);

afterAll(async () => {
  for (const runner of runners) await runner.stop().catch(() => {});
  for (const client of clients) await client.close();
  await orm?.close();
  await db?.drop();
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('Kafka with SASL/SCRAM and ACLs from the access model', () => {
  it('each service writes its own topic, and is refused another service’s (TopicAuthorizationFailed)', async () => {
    const inventory = serviceKafka('inventory', passwords.inventory);
    const payments = serviceKafka('payments', passwords.payments);
    await inventory.send([asMessage(sampleEvent('inventory.stock.reserved'))]);
    await payments.send([asMessage(sampleEvent('payments.payment.succeeded'))]);

    // A forged event on another service's topic never reaches it.
    const forged = { ...sampleEvent('payments.payment.succeeded'), source: 'inventory' };
    const refused = await inventory.send([asMessage(forged)]).then(() => 'accepted', (error: unknown) => errorText(error));
    expect(refused).toMatch(/TOPIC_AUTHORIZATION_FAILED|Not authorized to access topics/);
    const refusedToo = await payments.send([asMessage(sampleEvent('inventory.stock.released'))]).then(() => 'accepted', (error: unknown) => errorText(error));
    expect(refusedToo).toMatch(/TOPIC_AUTHORIZATION_FAILED|Not authorized to access topics/);
  });

  it('a service cannot read a topic it does not consume, nor in another service’s group', async () => {
    const inventory = serviceKafka('inventory', passwords.inventory);
    // inventory reads payments.payment.v1 as inventory.saga (it holds the message of the test above): the control.
    expect(await tryToRead(inventory, 'inventory.saga', 'payments.payment.v1')).toBe('read');
    const reads = new Set(access.find((a) => a.service === 'inventory')!.consumers.flatMap((c) => c.topics));
    const unread = topics.find((topic) => !reads.has(topic) && topic !== 'inventory.stock.v1')!;
    expect(await tryToRead(inventory, 'inventory.saga', unread)).toMatch(/^refused: .*(TOPIC_AUTHORIZATION_FAILED|Not authorized to access topics)/);
    // kafkajs reports a group it may not use as a coordinator it cannot find (the broker's
    // GROUP_AUTHORIZATION_FAILED stays in its debug log); the broker's own log names the denial.
    expect(await tryToRead(inventory, 'payments.saga', 'orders.order.v1')).toMatch(/^refused: .*(GROUP_AUTHORIZATION_FAILED|Not authorized to access group|Failed to find group coordinator)/);
    expect(readFileSync(join(dataDir, 'broker.log'), 'utf8')).toMatch(/Principal = User:inventory is Denied [Oo]peration = \w+ from host = \S+ on resource = Group:LITERAL:payments\.saga/);
  });

  it('each service consumes what it reads with the kit’s consumer, in its own group', async () => {
    const outcomes: MessageOutcome[] = [];
    const handled: string[] = [];
    // inventory.saga reads payments' topic; payments.saga reads inventory's (the events of the first test).
    runners.push(
      await startConsumer({ service: 'inventory', name: 'saga', orm, kafka: serviceKafka('inventory', passwords.inventory), logger, handlers: { 'payments.payment.succeeded': async (event) => void handled.push(`inventory got ${event.type}`) }, onMessage: (o) => outcomes.push(o) }),
      await startConsumer({ service: 'payments', name: 'saga', orm, kafka: serviceKafka('payments', passwords.payments), logger, handlers: { 'inventory.stock.reserved': async (event) => void handled.push(`payments got ${event.type}`) }, onMessage: (o) => outcomes.push(o) }),
    );
    await expect.poll(() => handled.toSorted(), { timeout: 30_000 }).toEqual(['inventory got payments.payment.succeeded', 'payments got inventory.stock.reserved']);
    expect(outcomes.filter((o) => o.result === 'dead-lettered')).toEqual([]);
  });

  it('refuses a wrong password and an unknown user', async () => {
    for (const [username, secret] of [['inventory', passwords.payments], ['mallory', password()]] as const) {
      expect(await signIn(serviceKafka(username, secret)), username).toMatch(/SASL SCRAM SHA512 authentication failed|SASLAuthenticationError/i);
    }
  });

  it('speaks TLS only, and a client checks the broker’s certificate against the CA it was given', async () => {
    const inventory = (tls?: Record<string, string>) => serviceKafka('inventory', passwords.inventory, tls);
    expect(await signIn(inventory())).toBe('signed in');
    // The system's CAs do not know this broker's.
    expect(await signIn(inventory({ KAFKA_SSL: 'true' }))).toMatch(/self.signed|unable to (get|verify)|certificate/i);
    // Plaintext gets no answer the client understands.
    expect(await signIn(inventory({}))).not.toBe('signed in');
  });
});
