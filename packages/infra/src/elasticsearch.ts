import { execFile } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  cpSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fetchCached, runMaven } from './maven.ts';
import { freePorts } from './ports.ts';
import { killStale, spawnManaged, tailFile } from './process.ts';
import { errorText, noop, redactUrl, type Log } from './util.ts';

const run = promisify(execFile);

/**
 * Elasticsearch releases whose integ-test-zip distribution is on Maven Central (it stops at
 * 8.19.x), newest first; the first that resolves is used.
 */
export const ELASTICSEARCH_VERSIONS = ['8.19.21', '8.19.20', '8.19.4', '8.18.2', '8.18.0'] as const;

export type ElasticsearchHandle = {
  url: string;
  /** Stops the node if this call started it; a no-op for ELASTICSEARCH_URL. */
  stop(): Promise<void>;
};

export type StartElasticsearchOptions = {
  /** Downloads: the unpacked distribution lands in `<cacheDir>/elasticsearch-<version>`. */
  cacheDir: string;
  /**
   * Node state: data/ (indices, kept between runs), logs/, config/ (copied from the distribution
   * on every start), tmp/ and elasticsearch.log (the node's console output).
   */
  dataDir: string;
  log?: Log;
  /** Pin a version instead of trying ELASTICSEARCH_VERSIONS (also: env ELASTICSEARCH_VERSION). */
  version?: string;
  /** JVM heap (-Xms and -Xmx), default 512m. Env ES_JAVA_OPTS is appended, so it wins. */
  heap?: string;
  /** Overall start-up budget, download excluded. */
  timeoutMs?: number;
  /** When running as root (Elasticsearch refuses to): the system user to run as, created if missing. */
  user?: string;
};

const POM = fileURLToPath(new URL('../elasticsearch/pom.xml', import.meta.url));
const DEFAULT_USER = 'shopgraph-es';
const JAVA_HINT = 'Elasticsearch needs Java 17+ (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)';

/**
 * Finds or starts Elasticsearch: ELASTICSEARCH_URL if set, and then it must answer
 * /_cluster/health within a few seconds or we throw; otherwise a single-node Elasticsearch from
 * Maven Central runs as a child process of this one.
 */
export async function ensureElasticsearch(
  opts: StartElasticsearchOptions & { urlTimeoutMs?: number },
): Promise<ElasticsearchHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.ELASTICSEARCH_URL;
  if (fromEnv) {
    const timeoutMs = opts.urlTimeoutMs ?? 15_000;
    try {
      await waitForElasticsearch(fromEnv, { timeoutMs });
    } catch (err) {
      throw new Error(
        `ELASTICSEARCH_URL is set (${redactUrl(fromEnv)}) but Elasticsearch there did not report a yellow or green ` +
          `cluster within ${timeoutMs}ms: ${errorText(err)}. ` +
          'Start that cluster, fix ELASTICSEARCH_URL, or unset it to start a local node.',
        { cause: err },
      );
    }
    log(`elasticsearch: using ELASTICSEARCH_URL ${redactUrl(fromEnv)}`);
    return { url: fromEnv, stop: async () => {} };
  }
  return startElasticsearch(opts);
}

/**
 * Downloads Elasticsearch's integ-test-zip with Maven and unpacks it into the cache, once per
 * version; later calls only check the cache. Returns the distribution's home folder.
 */
export async function fetchElasticsearch(opts: {
  cacheDir: string;
  version?: string;
  log?: Log;
}): Promise<{ version: string; home: string }> {
  const log = opts.log ?? noop;
  const pinned = opts.version ?? process.env.ELASTICSEARCH_VERSION;
  const homeOf = (version: string): string => join(resolve(opts.cacheDir), `elasticsearch-${version}`);
  const fetched = await fetchCached({
    what: 'Elasticsearch',
    action: 'download',
    done: 'downloaded and unpacked',
    versions: pinned ? [pinned] : ELASTICSEARCH_VERSIONS,
    dirOf: homeOf,
    log,
    download: async (version, staging) => {
      log(`elasticsearch: downloading org.elasticsearch.distribution.integ-test-zip:elasticsearch:${version} from Maven Central into ${homeOf(version)}`);
      await runMaven(
        POM,
        ['dependency:copy', `-Delasticsearch.version=${version}`, `-Delasticsearch.download=${staging}`],
        'Elasticsearch is fetched with Maven (apt-get install maven), or set ELASTICSEARCH_URL',
      );
      return unpack(join(staging, `elasticsearch-${version}.zip`), staging, version, log);
    },
  });
  return { version: fetched.version, home: fetched.dir };
}

/**
 * Starts a single-node Elasticsearch (security off, loopback only) on free ports, in the
 * foreground as a child of this process. As root it runs as an unprivileged system user.
 */
export async function startElasticsearch(opts: StartElasticsearchOptions): Promise<ElasticsearchHandle> {
  const log = opts.log ?? noop;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const { version, home } = await fetchElasticsearch(opts);
  const javaHome = await findJava(log);

  const dataDir = resolve(opts.dataDir);
  const dirs = { data: join(dataDir, 'data'), logs: join(dataDir, 'logs'), config: join(dataDir, 'config'), tmp: join(dataDir, 'tmp') };
  const logFile = join(dataDir, 'elasticsearch.log');
  const pidFile = join(dataDir, 'elasticsearch.pid');
  mkdirSync(dataDir, { recursive: true });
  // A node orphaned by a SIGKILLed launcher would still hold the data dir's node.lock. The pid is
  // the CLI launcher's, whose command line carries our -E settings; its server JVM exits with it.
  await killStale(pidFile, `path.data=${dirs.data}`, { log });

  // Elasticsearch writes into its config dir (elasticsearch.keystore), so each node gets its own
  // copy and the cached distribution stays read-only and shareable.
  rmSync(dirs.config, { recursive: true, force: true });
  cpSync(join(home, 'config'), dirs.config, { recursive: true });
  rmSync(dirs.tmp, { recursive: true, force: true });
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });

  const bin = join(home, 'bin', 'elasticsearch');
  const account = await runAsAccount(opts.user ?? DEFAULT_USER, log);
  if (account) {
    chownTree(dataDir, account.uid, account.gid);
    await checkAccessAs(account, { readable: [join(home, 'lib'), join(home, 'config')], executable: [bin, join(javaHome, 'bin', 'java')], writable: [dirs.data, dirs.logs] });
  }

  const started = Date.now();
  const [httpPort, transportPort] = await freePorts(2);
  const settings = [
    'discovery.type=single-node',
    'xpack.security.enabled=false',
    'network.host=127.0.0.1',
    `http.port=${httpPort}`,
    `transport.port=${transportPort}`,
    `path.data=${dirs.data}`,
    `path.logs=${dirs.logs}`,
    // Dev machines are often more than 90% full; the default watermarks would block writes.
    'cluster.routing.allocation.disk.threshold_enabled=false',
  ];
  const esArgs = settings.flatMap((s) => ['-E', s]);
  const heap = opts.heap ?? '512m';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ES_JAVA_HOME: javaHome,
    ES_JAVA_OPTS: [`-Xms${heap} -Xmx${heap}`, process.env.ES_JAVA_OPTS].filter(Boolean).join(' '),
    ES_PATH_CONF: dirs.config,
    ES_TMPDIR: dirs.tmp,
  };
  // setpriv execs Elasticsearch in its own place, so our SIGTERM reaches it directly. (runuser
  // stays in between and SIGKILLs its child 2 s after forwarding a SIGTERM: too soon for a
  // graceful shutdown.)
  const [command, args]: [string, string[]] = account
    ? [account.setpriv, ['--reuid', String(account.uid), '--regid', String(account.gid), '--init-groups', '--', bin, ...esArgs]]
    : [bin, esArgs];
  const child = await spawnManaged(command, args, {
    logFile,
    pidFile,
    env,
    cwd: dirs.logs, // the JVM writes gc.log and crash files into its working directory
  }).catch((err: unknown) => {
    throw new Error(`${errorText(err)}${account ? ' (setpriv is in Debian util-linux)' : ''}`, { cause: err });
  });

  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitForElasticsearch(url, { timeoutMs, isAlive: () => child.isRunning() });
  } catch (err) {
    const why = child.isRunning() ? errorText(err) : `the process exited (${JSON.stringify(await child.exited)})`;
    await child.stop(10_000);
    throw new Error(`Elasticsearch ${version} did not start: ${why}. Last lines of ${logFile}:\n${tailFile(logFile)}`, { cause: err });
  }
  log(`elasticsearch: ${version} ready on ${url} in ${Date.now() - started}ms (log: ${logFile})`);
  return {
    url,
    stop: async () => {
      await child.stop(30_000);
    },
  };
}

/**
 * Polls `/_cluster/health?wait_for_status=yellow` until the cluster is yellow or green, or the
 * time is up. (GET / needs the rest-root module, which the integ-test-zip lacks.) Credentials in
 * the URL are sent as basic auth. `isAlive` lets a caller that owns the node stop waiting as
 * soon as it dies.
 */
export async function waitForElasticsearch(url: string, opts: { timeoutMs: number; isAlive?: () => boolean }): Promise<void> {
  const { healthUrl, headers } = healthRequest(url);
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: string;
  for (;;) {
    if (opts.isAlive && !opts.isAlive()) throw new Error('the Elasticsearch process exited');
    try {
      const res = await fetch(healthUrl, { headers, signal: AbortSignal.timeout(Math.max(Math.min(5000, deadline - Date.now()), 1500)) });
      const text = await res.text();
      if (res.ok) {
        const status = (JSON.parse(text) as { status?: string }).status;
        if (status === 'green' || status === 'yellow') return;
        lastError = `cluster status ${JSON.stringify(status)}`;
      } else {
        // 408: not yellow yet; 503: no master elected yet; 401: wrong or missing credentials.
        lastError = `HTTP ${res.status} ${text.slice(0, 300)}`;
      }
    } catch (err) {
      // fetch says only "fetch failed"; the cause names it (ECONNREFUSED, a timeout, ...).
      lastError = errorText((err as Error).cause ?? err);
    }
    if (Date.now() > deadline) throw new Error(`GET /_cluster/health failed for ${opts.timeoutMs}ms: ${lastError}`);
    await sleep(250);
  }
}

/** fetch refuses URLs with credentials; move them into an Authorization header. */
function healthRequest(url: string): { healthUrl: string; headers: Record<string, string> } {
  const parsed = new URL(url);
  const headers: Record<string, string> = {};
  if (parsed.username || parsed.password) {
    const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
  }
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/_cluster/health`;
  parsed.search = '?wait_for_status=yellow&timeout=1s';
  return { healthUrl: parsed.toString(), headers };
}

/** Unpacks the zip next to it and returns the distribution's folder inside `into`. */
async function unpack(zip: string, into: string, version: string, log: Log): Promise<string> {
  const unzip = findOnPath('unzip');
  try {
    if (unzip) {
      await run(unzip, ['-q', '-o', zip, '-d', into], { maxBuffer: 16 * 1024 * 1024, timeout: 5 * 60_000 });
    } else {
      const jar = join(await findJava(log), 'bin', 'jar');
      if (!existsSync(jar)) {
        throw new Error(`neither unzip nor ${jar} exists: apt-get install unzip (or point JAVA_HOME at a full JDK)`);
      }
      log(`elasticsearch: unzip not found, unpacking with ${jar}`);
      await run(jar, ['xf', zip], { cwd: into, maxBuffer: 16 * 1024 * 1024, timeout: 5 * 60_000 });
    }
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`could not unpack ${zip}: ${e.stderr?.trim() || errorText(err)}`, { cause: err });
  }
  rmSync(zip, { force: true }); // Maven keeps its own copy in ~/.m2
  const unpacked = join(into, `elasticsearch-${version}`);
  if (!existsSync(join(unpacked, 'bin', 'elasticsearch'))) {
    throw new Error(`${zip} did not contain elasticsearch-${version}/bin/elasticsearch; is it the integ-test-zip distribution?`);
  }
  // jar xf drops the executable bits; and the node may run as another user, so all may read.
  makeWorldReadable(unpacked);
  for (const script of readdirSync(join(unpacked, 'bin'))) chmodSync(join(unpacked, 'bin', script), 0o755);
  return unpacked;
}

function makeWorldReadable(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    chmodSync(path, (stat.mode & 0o7777) | 0o555);
    for (const entry of readdirSync(path)) makeWorldReadable(join(path, entry));
  } else {
    chmodSync(path, (stat.mode & 0o7777) | 0o444);
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

type Account = { name: string; uid: number; gid: number; setpriv: string };

/**
 * Elasticsearch refuses to run as root. As root, returns the system user to run it as, creating
 * it (without home or login shell) if needed; otherwise undefined: it runs as us.
 */
async function runAsAccount(name: string, log: Log): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const setpriv = findOnPath('setpriv');
  if (!setpriv) {
    throw new Error('running as root, and Elasticsearch refuses to: setpriv (Debian util-linux) is needed to run it as another user, or run as a non-root user');
  }
  let account = await lookupAccount(name, setpriv);
  if (!account) {
    log(`elasticsearch: running as root, which Elasticsearch refuses; creating system user ${name}`);
    try {
      await run(findOnPath('useradd') ?? 'useradd', ['-r', '-M', '-s', '/usr/sbin/nologin', '-c', 'Elasticsearch for @shopgraph/infra', name]);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      // 9: another process created it in the meantime.
      if (e.code === 'ENOENT') throw new Error(`running as root, and Elasticsearch refuses to: useradd (Debian passwd) is needed to create user ${name}`, { cause: err });
      if (Number(e.code) !== 9) throw new Error(`useradd ${name} failed: ${e.stderr?.trim() || errorText(err)}`, { cause: err });
    }
    account = await lookupAccount(name, setpriv);
    if (!account) throw new Error(`useradd ${name} succeeded but id ${name} does not find the user`);
  }
  return account;
}

async function lookupAccount(name: string, setpriv: string): Promise<Account | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10), setpriv };
  } catch {
    return undefined;
  }
}

/** Fails with the offending path if the node's user cannot read, run or write what it must. */
async function checkAccessAs(
  account: Account,
  paths: { readable: string[]; executable: string[]; writable: string[] },
): Promise<void> {
  const checks = [
    ...paths.readable.map((p) => ['-r', p] as const),
    ...paths.executable.map((p) => ['-x', p] as const),
    ...paths.writable.map((p) => ['-w', p] as const),
  ];
  const script = 'while [ $# -gt 0 ]; do test "$1" "$2" || { echo "$1 $2"; exit 1; }; shift 2; done';
  try {
    await run(account.setpriv, ['--reuid', String(account.uid), '--regid', String(account.gid), '--init-groups', '--', 'sh', '-c', script, 'sh', ...checks.flat()]);
  } catch (err) {
    const failed = (err as { stdout?: string }).stdout?.trim();
    const [flag, path] = failed ? [failed.slice(0, 2), failed.slice(3)] : ['', ''];
    const what = { '-r': 'read', '-x': 'execute', '-w': 'write' }[flag] ?? 'access';
    throw new Error(
      `Elasticsearch runs as user ${account.name} (not root), which cannot ${what} ${path || 'its files'}` +
        ' (every parent folder must be searchable by others): pass a cacheDir/dataDir outside private folders',
      { cause: err },
    );
  }
}

/**
 * A Java 17+ home for ES_JAVA_HOME (the integ-test-zip bundles no JDK): ES_JAVA_HOME, JAVA_HOME,
 * the `java` on PATH, then the JDKs in /usr/lib/jvm, in that order.
 */
async function findJava(log: Log): Promise<string> {
  const candidates: Array<[string, string]> = [];
  if (process.env.ES_JAVA_HOME) candidates.push(['ES_JAVA_HOME', process.env.ES_JAVA_HOME]);
  if (process.env.JAVA_HOME) candidates.push(['JAVA_HOME', process.env.JAVA_HOME]);
  const onPath = findOnPath('java');
  if (onPath) candidates.push([`java on PATH (${onPath})`, dirname(dirname(realpathSync(onPath)))]);
  try {
    for (const entry of readdirSync('/usr/lib/jvm').sort().reverse()) candidates.push(['/usr/lib/jvm', join('/usr/lib/jvm', entry)]);
  } catch {
    // no system JDKs
  }
  const rejected: string[] = [];
  for (const [source, home] of candidates) {
    const major = await javaMajor(home);
    if (major !== undefined && major >= 17) return home;
    const why = `${source}: ${home} ${major === undefined ? 'has no working bin/java' : `is Java ${major}`}`;
    if (source !== '/usr/lib/jvm') log(`elasticsearch: skipping ${why}`);
    rejected.push(why);
  }
  throw new Error(`no Java 17+ found for Elasticsearch${rejected.length ? ` (${rejected.join('; ')})` : ''}. ${JAVA_HINT}`);
}

async function javaMajor(home: string): Promise<number | undefined> {
  const java = join(home, 'bin', 'java');
  if (!existsSync(java)) return undefined;
  let version: string | undefined;
  try {
    version = /^JAVA_VERSION="([^"]+)"/m.exec(readFileSync(join(home, 'release'), 'utf8'))?.[1];
  } catch {
    // no release file: ask the binary
  }
  if (!version) {
    try {
      const { stderr } = await run(java, ['-version'], { timeout: 30_000 });
      version = /version "([^"]+)"/.exec(stderr)?.[1];
    } catch {
      return undefined;
    }
  }
  if (!version) return undefined;
  const [first, second] = version.split(/[.+_-]/).map((n) => Number.parseInt(n, 10));
  return first === 1 ? second : first; // "1.8.0_402" is Java 8
}

function findOnPath(name: string): string | undefined {
  // /usr/sbin is not on every user's PATH; Debian installs setpriv and useradd there or in /usr/bin.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
