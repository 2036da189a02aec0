import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { fetchCached, runMaven } from './maven.ts';
import { canConnect, freePorts } from './ports.ts';
import { killStale, spawnManaged, tailFile } from './process.ts';
import { errorText, noop, type Log } from './util.ts';

const run = promisify(execFile);

/** Kafka 4.x releases on Maven Central, newest first; the first that resolves is used. */
export const KAFKA_VERSIONS = ['4.4.0', '4.3.1', '4.2.2', '4.1.2', '4.0.2'] as const;

export type KafkaHandle = {
  brokers: string[];
  /** With `sasl`: how the admin (a super user) signs in, as kafkajs takes it. */
  sasl?: ScramLogin;
  /** With `sasl.tls`: the CA that signed the broker's certificate, as kafkajs takes it. */
  ssl?: { ca: string[] };
  /** Stops the broker if this call started it; a no-op for KAFKA_BROKERS. */
  stop(): Promise<void>;
};

export type StartKafkaOptions = {
  /** Downloads: jars land in `<cacheDir>/kafka-<version>/libs`. */
  cacheDir: string;
  /** Broker state: server.properties, logs/ (topic data) and broker.log. Kept between runs. */
  dataDir: string;
  log?: Log;
  /** Pin a version instead of trying KAFKA_VERSIONS (also: env KAFKA_VERSION). */
  version?: string;
  /** Overall start-up budget, download excluded. */
  timeoutMs?: number;
  /**
   * A SASL_PLAINTEXT listener (SCRAM-SHA-512) and ACLs (KRaft's StandardAuthorizer; nothing is
   * allowed without one) instead of the open PLAINTEXT listener. `admin` is a super user; every
   * user's SCRAM credentials are written when the log dir is formatted (a fresh dataDir, then).
   * Without it the broker is the open one the suite and `npm start` run.
   */
  sasl?: { admin: ScramUser; users?: ScramUser[]; tls?: KafkaTls };
};

/**
 * TLS on the SASL listener (SASL_SSL): the broker's key and certificate (for 127.0.0.1) in a PKCS12
 * keystore, and the PEM certificate of the CA that signed it, which the broker's own client trusts too.
 */
export type KafkaTls = { keystore: string; password: string; caFile: string };

/** A SCRAM user; names and passwords of word characters, dots and dashes (they go into properties unescaped). */
export type ScramUser = { username: string; password: string };
export type ScramLogin = ScramUser & { mechanism: 'scram-sha-512' };

const POM = fileURLToPath(new URL('../kafka/pom.xml', import.meta.url));

/**
 * Finds or starts Kafka: KAFKA_BROKERS (comma-separated host:port) if set, and then it must
 * answer within a few seconds or we throw; otherwise a single-node KRaft broker from Maven
 * Central runs as a child process of this one.
 */
export async function ensureKafka(opts: StartKafkaOptions & { brokersTimeoutMs?: number }): Promise<KafkaHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.KAFKA_BROKERS;
  if (fromEnv) {
    const brokers = fromEnv.split(',').map((b) => b.trim()).filter(Boolean);
    const timeoutMs = opts.brokersTimeoutMs ?? 15_000;
    try {
      await waitForKafka(brokers, { timeoutMs });
    } catch (err) {
      throw new Error(
        `KAFKA_BROKERS is set (${fromEnv}) but no broker there answered within ${timeoutMs}ms: ${errorText(err)}. ` +
          'Start that cluster, fix KAFKA_BROKERS, or unset it to start a local broker.',
        { cause: err },
      );
    }
    log(`kafka: using KAFKA_BROKERS ${brokers.join(',')}`);
    return { brokers, stop: async () => {} };
  }
  return startKafka(opts);
}

/**
 * Resolves Kafka's jars (plus an SLF4J backend) with Maven into the cache, once per version;
 * later calls only check the cache. Returns the folder of jars.
 */
export async function fetchKafka(opts: { cacheDir: string; version?: string; log?: Log }): Promise<{ version: string; libs: string }> {
  const log = opts.log ?? noop;
  const pinned = opts.version ?? process.env.KAFKA_VERSION;
  const libsOf = (version: string): string => join(resolve(opts.cacheDir), `kafka-${version}`, 'libs');
  const fetched = await fetchCached({
    what: 'Kafka',
    action: 'resolve',
    done: 'resolved',
    versions: pinned ? [pinned] : KAFKA_VERSIONS,
    dirOf: libsOf,
    log,
    download: async (version, staging) => {
      log(`kafka: resolving org.apache.kafka:kafka_2.13:${version} from Maven Central into ${libsOf(version)}`);
      await runMaven(
        POM,
        ['dependency:copy-dependencies', `-Dkafka.version=${version}`, `-Dkafka.libs=${staging}`],
        'Kafka is fetched with Maven (apt-get install maven), or set KAFKA_BROKERS',
      );
      return staging;
    },
  });
  return { version: fetched.version, libs: fetched.dir };
}

/**
 * Starts a single-node KRaft broker (broker + controller in one JVM) on free loopback ports.
 * The log dir is formatted on first use only, so topics survive restarts on the same dataDir.
 */
export async function startKafka(opts: StartKafkaOptions): Promise<KafkaHandle> {
  const log = opts.log ?? noop;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const { version, libs } = await fetchKafka(opts);

  const dataDir = resolve(opts.dataDir);
  const logDir = join(dataDir, 'logs');
  const propsFile = join(dataDir, 'server.properties');
  const logFile = join(dataDir, 'broker.log');
  const pidFile = join(dataDir, 'broker.pid');
  mkdirSync(logDir, { recursive: true });
  // A broker orphaned by a SIGKILLed launcher would still hold the log dir's lock.
  await killStale(pidFile, propsFile, { log });

  const started = Date.now();
  const [port, controllerPort] = await freePorts(2);
  const sasl = opts.sasl;
  const scramUsers = sasl ? [sasl.admin, ...(sasl.users ?? [])] : [];
  for (const user of scramUsers) {
    if (!/^[\w.-]+$/.test(user.username) || !/^[\w.-]+$/.test(user.password)) throw new Error(`SCRAM user ${JSON.stringify(user.username)}: use word characters, dots and dashes only`);
  }
  writeFileSync(propsFile, serverProperties({ port: port!, controllerPort: controllerPort!, logDir, admin: sasl?.admin, tls: sasl?.tls }));

  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const classpath = `${libs}/*`; // the JVM expands the wildcard; no shell involved
  const quietTool = '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn';
  if (!existsSync(join(logDir, 'meta.properties'))) {
    // Static quorum (controller.quorum.voters) is formatted WITHOUT --standalone.
    const clusterId = (await runJava(java, [quietTool, '-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'])).trim();
    if (!/^[\w-]{22}$/.test(clusterId)) throw new Error(`StorageTool random-uuid printed ${JSON.stringify(clusterId)}, not a cluster id`);
    const addScram = scramUsers.flatMap((user) => ['--add-scram', `SCRAM-SHA-512=[name=${user.username},password=${user.password}]`]);
    await runJava(java, [quietTool, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, ...addScram]);
    log(`kafka: formatted ${logDir} (cluster ${clusterId})`);
  }

  const child = await spawnManaged(
    java,
    [
      '-Xms256m',
      '-Xmx512m',
      // C1 only. A broker that lives minutes (tests, npm start, benches) on two cores otherwise spends
      // most of its CPU in C2's compiler: 23 % of a core out of its 51 % a minute after start, under load.
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
      // The full config dumps (thousands of lines per start) bury the useful messages.
      '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn',
      '-cp',
      classpath,
      'kafka.Kafka',
      propsFile,
    ],
    { logFile, pidFile, cwd: dataDir },
  ).catch((err: unknown) => {
    throw new Error(`${errorText(err)}. Kafka needs Java 17+ (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)`);
  });

  const brokers = [`127.0.0.1:${port}`];
  const login: ScramLogin | undefined = sasl ? { mechanism: 'scram-sha-512', ...sasl.admin } : undefined;
  const ssl = sasl?.tls ? { ca: [readFileSync(sasl.tls.caFile, 'utf8')] } : undefined;
  const deadline = started + timeoutMs;
  const fail = async (why: string): Promise<never> => {
    await child.stop(5000);
    throw new Error(`Kafka ${version} broker did not start: ${why}. Last lines of ${logFile}:\n${tailFile(logFile)}`);
  };
  // Cheap TCP check first: a JVM takes a few seconds, and kafkajs logs noisily while it cannot connect.
  while (!(await canConnect('127.0.0.1', port!, 500))) {
    if (!child.isRunning()) await fail(`the JVM exited (${JSON.stringify(await child.exited)})`);
    if (Date.now() > deadline) await fail(`port ${port} not open after ${timeoutMs}ms`);
    await sleep(100);
  }
  try {
    await waitForKafka(brokers, { timeoutMs: Math.max(deadline - Date.now(), 1000), isAlive: () => child.isRunning(), sasl: login, ssl });
  } catch (err) {
    await fail(errorText(err));
  }
  log(`kafka: ${version} broker ready on ${brokers[0]}${sasl ? ` (${ssl ? 'TLS, ' : ''}SASL SCRAM-SHA-512, ACLs)` : ''} in ${Date.now() - started}ms (log: ${logFile})`);
  return {
    brokers,
    ...(login ? { sasl: login } : {}),
    ...(ssl ? { ssl } : {}),
    stop: async () => {
      await child.stop(20_000);
    },
  };
}

/**
 * Retries kafkajs `admin.describeCluster()` until it lists a broker or the time is up.
 * `isAlive` lets a caller that owns the broker stop waiting as soon as it dies.
 */
export async function waitForKafka(
  brokers: string[],
  opts: { timeoutMs: number; isAlive?: () => boolean; sasl?: ScramLogin; ssl?: { ca: string[] } },
): Promise<void> {
  const kafka = new Kafka({
    clientId: 'shopgraph-infra-probe',
    brokers,
    ...(opts.sasl ? { sasl: opts.sasl } : {}),
    ...(opts.ssl ? { ssl: opts.ssl } : {}),
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 }, // we retry ourselves, with a deadline
    logLevel: logLevel.NOTHING, // failures while the broker boots are expected
  });
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (opts.isAlive && !opts.isAlive()) throw new Error('the broker process exited');
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0) return;
      lastError = new Error('describeCluster listed no brokers yet');
    } catch (err) {
      lastError = err;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error(`describeCluster failed for ${opts.timeoutMs}ms: ${errorText(lastError)}`);
    await sleep(250);
  }
}

function serverProperties(p: { port: number; controllerPort: number; logDir: string; admin?: ScramUser; tls?: KafkaTls | undefined }): string {
  return `# Written by @shopgraph/infra on every start (ports change); edit src/kafka.ts instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${p.controllerPort}
controller.listener.names=CONTROLLER
${p.admin ? saslListener(p.port, p.controllerPort, p.admin, p.tls) : openListener(p.port, p.controllerPort)}
log.dirs=${p.logDir}
# One node: every internal topic must make do with one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal partitions make the first consumer group and transaction start faster.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.num.partitions=1
num.partitions=1
# Consumers join immediately instead of waiting 3s for others.
group.initial.rebalance.delay.ms=0
# A broker restarted after a crash registers again only once its old registration's lease has run
# out: 9 s by default, during which nothing is served. One node, no failover to decide: a short lease.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
# Topics are created explicitly by the code that owns them; typos must not create topics.
auto.create.topics.enable=false
# The default 128 MiB compaction buffer is a quarter of our heap.
log.cleaner.dedupe.buffer.size=33554432
`;
}

/** The open client listener the suite and `npm start` use. */
function openListener(port: number, controllerPort: number): string {
  return `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT`;
}

/**
 * The `sasl` option's client listener: clients and the broker itself sign in with SCRAM-SHA-512,
 * over TLS with `tls`, and ACLs decide the rest. The controller listener stays PLAINTEXT on
 * loopback, so its principal (ANONYMOUS, which only that listener gives) must be a super user.
 */
function saslListener(port: number, controllerPort: number, admin: ScramUser, tls: KafkaTls | undefined): string {
  const protocol = tls ? 'SASL_SSL' : 'SASL_PLAINTEXT';
  const listener = protocol.toLowerCase();
  const keystore = tls
    ? `
ssl.keystore.type=PKCS12
ssl.keystore.location=${tls.keystore}
ssl.keystore.password=${tls.password}
ssl.key.password=${tls.password}
ssl.truststore.type=PEM
ssl.truststore.location=${tls.caFile}`
    : '';
  return `listeners=${protocol}://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=${protocol}://127.0.0.1:${port}
inter.broker.listener.name=${protocol}
listener.security.protocol.map=${protocol}:${protocol},CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${admin.username}" password="${admin.password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${admin.username};User:ANONYMOUS${keystore}`;
}

async function runJava(java: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(java, args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${java} not found: Kafka needs Java 17+ (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)`, { cause: err });
    throw new Error(`${java} ${args.slice(-4).join(' ')} failed: ${`${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || errorText(err)}`, { cause: err });
  }
}
