import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import type { MigrationObject } from '@mikro-orm/core';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { z } from '@shopgraph/core/config';
import type { Logger } from '@shopgraph/core/log';
import { SpanKind, trace, type Tracer } from '@shopgraph/core/tracing';

export type { EntityManager };

/** The `sslmode`s of libpq that pg can honour (prefer and allow fall back to plaintext, which pg cannot). */
const SSL_MODES = new Set(['disable', 'require', 'verify-ca', 'verify-full']);

/** The service's own Postgres database. */
export const databaseConfig = z.object({
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'a postgres:// (or postgresql://) URL, e.g. postgres://user:password@host:5432/database' })
    .refine((url) => !URL.canParse(url) || SSL_MODES.has(new URL(url).searchParams.get('sslmode') ?? 'disable'), 'sslmode must be disable, require, verify-ca or verify-full (pg cannot fall back to plaintext, as prefer and allow would)'),
});

/**
 * TLS as libpq reads it from a postgres:// URL: `sslmode` (disable, require, verify-ca,
 * verify-full) and the PEM files `sslrootcert` (`system`: the system's CAs), `sslcert`, `sslkey`.
 * require encrypts without checking the server (verify-ca once a root certificate is given, as
 * libpq does); verify-ca checks the chain; verify-full the chain and the host name. MikroORM hands
 * pg only the URL's host, port, user, password and database, so without this the mode is lost.
 * Undefined without `sslmode` (pg's own PGSSLMODE still applies) and for disable.
 */
export function postgresTls(url: string): ConnectionOptions | undefined {
  const params = new URL(url).searchParams;
  const mode = params.get('sslmode') ?? 'disable';
  if (mode === 'disable') return undefined;
  if (!SSL_MODES.has(mode)) throw new Error(`DATABASE_URL: sslmode=${mode} is not supported (disable, require, verify-ca or verify-full)`);
  const pem = (name: string): string | undefined => {
    const path = params.get(name);
    if (!path || (name === 'sslrootcert' && path === 'system')) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`DATABASE_URL: cannot read ${name} ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  const ca = pem('sslrootcert');
  const cert = pem('sslcert');
  const key = pem('sslkey');
  const tls: ConnectionOptions = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  if (mode === 'require' && !ca) return { ...tls, rejectUnauthorized: false };
  // The chain is checked (node's default), the name on the certificate is not.
  if (mode !== 'verify-full') return { ...tls, checkServerIdentity: () => undefined };
  return tls;
}

export type Orm = MikroORM;

export interface DatabaseOptions {
  url: string;
  entities: NonNullable<Options['entities']>;
  /** In order; applied at start, each in its own transaction. */
  migrations: MigrationObject[];
  poolMax?: number;
  /** Where the ORM's own messages (migrations applied, warnings) go; they are debug-level. */
  logger?: Logger;
  /** Sees every SQL statement run; for tests that count round trips. */
  onQuery?: (sql: string) => void;
  /** Traces every SQL statement (its text without literals) in the active trace, when tracing is on. */
  tracer?: Tracer;
  /**
   * The service that owns the database. Every EntityManager of the ORM (forks, transactions,
   * consumer handlers) knows it through `serviceOf`; `recordEvent` signs envelopes with it.
   */
  service?: string;
}

/** Owner by ORM configuration, which an ORM shares with all its EntityManagers. */
const owners = new WeakMap<object, string>();

/**
 * The service an EntityManager works for: the `service` its database was opened with. Bound to
 * the ORM, not to the process, because one process may run several services (the e2e tests run
 * the whole supergraph in one).
 */
export function serviceOf(em: EntityManager): string | undefined {
  return em.config ? owners.get(em.config) : undefined;
}

/** Connects (creating the database if missing) and brings its schema up to date. */
export async function openDatabase(options: DatabaseOptions): Promise<MikroORM> {
  const ssl = postgresTls(options.url);
  const orm = await MikroORM.init({
    clientUrl: options.url,
    entities: options.entities,
    extensions: [Migrator],
    migrations: { migrationsList: options.migrations, transactional: true, allOrNothing: true, snapshot: false },
    pool: { min: 0, max: options.poolMax ?? 10, idleTimeoutMillis: 30_000 },
    // pg waits forever for a connection by default; a down database must fail a request, not hang it.
    // statement_timeout is the server's bound; query_timeout the client's, for a server that cannot
    // answer at all (a dead host, a half-open socket), and TCP keep-alive finds such sockets when idle.
    driverOptions: { connectionTimeoutMillis: 5_000, statement_timeout: 15_000, query_timeout: 20_000, idle_in_transaction_session_timeout: 30_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000, ...(ssl ? { ssl } : {}) },
    ensureDatabase: true,
    allowGlobalContext: false,
    logger: (message) => options.logger?.debug(message),
  });
  if (options.service) owners.set(orm.config, options.service);
  if (options.onQuery || options.tracer) {
    const ormLogger = orm.config.getLogger();
    const logQuery = ormLogger.logQuery.bind(ormLogger);
    const { onQuery, tracer } = options;
    ormLogger.logQuery = (context) => {
      if (context.query) {
        onQuery?.(context.query);
        // Reported once the statement finished, in the caller's async context: a span after the fact,
        // only inside a sampled trace (background work, such as the relay's polls, starts none).
        if (tracer && trace.getActiveSpan()?.isRecording()) tracer.startSpan('db', { kind: SpanKind.CLIENT, startTime: Date.now() - (context.took ?? 0), attributes: { 'db.system.name': 'postgresql', 'db.query.text': withoutLiterals(context.query) } }).end();
      }
      logQuery(context);
    };
  }
  try {
    // Replicas starting together on a fresh database take turns, instead of racing to create tables.
    await orm.em.fork().transactional(async (em) => {
      await advisoryLock(em, 'migrations');
      await orm.migrator.up();
    });
  } catch (error) {
    await orm.close();
    throw error;
  }
  return orm;
}

/**
 * The SQL expression that takes `advisoryLock`'s lock on the name given as its one parameter, for a
 * statement that takes the lock itself (its row source, say) and so saves a round trip.
 */
export const ADVISORY_LOCK_SQL = `pg_advisory_xact_lock(hashtext(current_database() || ':' || ?))`;

/**
 * Takes a Postgres advisory lock held until the surrounding transaction ends, so concurrent
 * callers (replicas, requests) serialise on a name. Keyed by database too: advisory locks are
 * cluster-wide.
 */
export async function advisoryLock(em: EntityManager, name: string): Promise<void> {
  if (!em.isInTransaction()) throw new Error('advisoryLock needs a transaction');
  await em.execute(`select ${ADVISORY_LOCK_SQL}`, [name]);
}

/** A statement as the ORM logs it (values inlined), with its literals replaced: no customer data in a trace. */
export function withoutLiterals(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'/g, '?').replace(/\b\d+(?:\.\d+)?\b/g, '?').slice(0, 2_000);
}

/** Readiness probe: one round trip to the database. */
export async function pingDatabase(orm: MikroORM): Promise<void> {
  await orm.em.getConnection().execute('select 1');
}
