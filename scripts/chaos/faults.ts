// The faults a chaos run injects, their seeded schedule, and how each is done and undone.
import { queryOnce } from '@shopgraph/infra';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Stack } from '../stack.ts';
import type { Random } from './random.ts';

export const FAULT_KINDS = [
  'kafka-kill',
  'consumer-kill',
  'relay-leader-kill',
  'subgraph-kill',
  'router-kill',
  'pg-terminate',
  'pg-pause',
  'redis-stop',
  'elasticsearch-stop',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Saga participants whose consumers (or relay) the saga waits on; the kill targets of those kinds. */
const SAGA_SERVICES = ['orders', 'inventory', 'payments'];
/** On every checkout's request path (cart, prices), without saga consumers. */
const REQUEST_PATH_SUBGRAPHS = ['cart', 'catalog'];
const DATABASES = ['orders', 'inventory', 'payments', 'promotions', 'cart'];

export interface PlannedFault {
  n: number;
  kind: FaultKind;
  /** A process or database name of the stack. */
  target: string;
  /** When it is planned, in seconds after the load started. */
  atS: number;
  /** How long the target stays down (killed, stopped, paused) before it is started again. */
  downS: number;
}

export interface FaultRecord extends PlannedFault {
  /** When it actually started, in seconds after the load started (later than planned if the previous fault's recovery ran long). */
  startedAtS: number;
  /** From the fault's end (restart issued, pause lifted) until the target answered its readiness check again. */
  readyMs: number | null;
  /** From the fault's end until the first order placed after it reached a final status: the shop works again. */
  recoveryMs: number | null;
  /**
   * From the fault's end until every order placed before it had reached a final status: how long
   * the sagas caught in the fault waited (measured in the background, so a later fault may add to it).
   */
  drainedMs: number | null;
  /** What was seen while injecting it (e.g. how many sessions were terminated). */
  note?: string;
  error?: string;
}

/**
 * `count` faults, each kind of `kinds` at least once (when count allows), in a seeded order,
 * spaced by about `spacingS` seconds (plus each fault's down time).
 */
export function planFaults(random: Random, options: { count: number; kinds: readonly FaultKind[]; spacingS: number; firstAtS: number }): PlannedFault[] {
  const kinds: FaultKind[] = [];
  for (let i = 0; i < options.count; i++) kinds.push(i < options.kinds.length ? options.kinds[i]! : random.pick(options.kinds));
  // Shuffle (Fisher-Yates) so the mandatory kinds do not always come first.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  let atS = options.firstAtS;
  return kinds.map((kind, n) => {
    const fault: PlannedFault = { n: n + 1, kind, target: targetOf(kind, random), atS: Math.round(atS * 10) / 10, downS: downTimeOf(kind, random) };
    atS += fault.downS + options.spacingS * (0.7 + 0.6 * random.next());
    return fault;
  });
}

function targetOf(kind: FaultKind, random: Random): string {
  switch (kind) {
    case 'kafka-kill':
      return 'kafka';
    case 'consumer-kill':
    case 'relay-leader-kill':
    case 'pg-pause':
      return random.pick(SAGA_SERVICES);
    case 'subgraph-kill':
      return random.pick(REQUEST_PATH_SUBGRAPHS);
    case 'router-kill':
      return 'router';
    case 'pg-terminate':
      return random.pick(DATABASES);
    case 'redis-stop':
      return 'redis';
    case 'elasticsearch-stop':
      return 'elasticsearch';
  }
}

function downTimeOf(kind: FaultKind, random: Random): number {
  switch (kind) {
    case 'pg-terminate':
      return 0;
    case 'pg-pause':
    case 'elasticsearch-stop':
      return random.int(3, 8);
    default:
      return random.int(1, 5);
  }
}

export interface FaultContext {
  stack: Stack;
  log: (message: string) => void;
  /** Called before a process is killed: read what it counted (its metrics die with it). */
  beforeKill(target: string): Promise<void>;
  /** Resolves with the time (epoch ms) the first order created at or after `since` reached a final status, or null at the deadline. */
  firstSagaDoneAfter(since: number, timeoutMs: number): Promise<number | null>;
  /** Resolves with the time (epoch ms) when no order created before `before` is still unfinished, or null at the deadline. */
  sagasBeforeDone(before: number, timeoutMs: number): Promise<number | null>;
  recoveryTimeoutMs: number;
}

/** Injects one fault, waits its down time, undoes it, and measures how long the shop took to work again. */
export async function runFault(fault: PlannedFault, startedAtS: number, ctx: FaultContext): Promise<{ record: FaultRecord; drained: Promise<void> }> {
  const record: FaultRecord = { ...fault, startedAtS: Math.round(startedAtS * 10) / 10, readyMs: null, recoveryMs: null, drainedMs: null };
  const { stack } = ctx;
  const processOf = (name: string) => {
    const found = stack.processes.get(name);
    if (!found) throw new Error(`the stack has no process ${name} (start it with ownInfrastructure)`);
    return found;
  };
  let healedAt = Date.now();
  try {
    switch (fault.kind) {
      case 'pg-terminate': {
        const terminated = await queryOnce<{ n: number }>(stack.databaseUrls[fault.target]!, 'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
        record.note = `${terminated[0]?.n ?? 0} sessions terminated`;
        healedAt = Date.now();
        record.readyMs = 0;
        break;
      }
      case 'pg-pause': {
        record.note = await pauseDatabase(stack.databaseUrls[fault.target]!, fault.downS * 1000);
        healedAt = Date.now();
        record.readyMs = 0;
        break;
      }
      default: {
        const target = processOf(fault.target);
        if (fault.kind === 'relay-leader-kill') record.note = await relayLeaderNote(stack.databaseUrls[fault.target]!);
        await ctx.beforeKill(fault.target);
        // Redis and Elasticsearch are stopped (SIGTERM); every other process is crashed.
        await target.kill(fault.kind === 'redis-stop' || fault.kind === 'elasticsearch-stop' ? 'SIGTERM' : 'SIGKILL');
        await sleep(fault.downS * 1000);
        healedAt = Date.now();
        await target.start().catch(async (error: unknown) => {
          ctx.log(`  fault ${fault.n}: ${fault.target} did not start (${String(error)}); trying once more`);
          record.note = `the first restart failed (${error instanceof Error ? error.message : String(error)}); started on the second`;
          if (target.isRunning()) await target.kill('SIGKILL');
          await target.start();
        });
        record.readyMs = Date.now() - healedAt;
      }
    }
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
  }
  const drained = ctx.sagasBeforeDone(healedAt, ctx.recoveryTimeoutMs).then((at) => {
    record.drainedMs = at === null ? null : Math.max(0, at - healedAt);
  });
  const done = await ctx.firstSagaDoneAfter(healedAt, ctx.recoveryTimeoutMs);
  record.recoveryMs = done === null ? null : Math.max(0, done - healedAt);
  return { record, drained };
}

/**
 * Pauses a service's database: one transaction holds an ACCESS EXCLUSIVE lock on every table of
 * it for `ms`, so every statement of the service waits (as if the server hung), then lets go.
 */
async function pauseDatabase(url: string, ms: number): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const tables = (await client.query<{ name: string }>(`select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`)).rows.map((r) => r.name);
    // Taking every lock can deadlock with a service's transaction (Postgres then aborts ours): take them again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query('begin');
        // Waits for running transactions to end first; never longer than this.
        await client.query(`set local lock_timeout = '10s'`);
        await client.query(`lock table ${tables.join(', ')} in access exclusive mode`);
        break;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        if (attempt === 5 || !['40P01', '55P03'].includes((error as { code?: string }).code ?? '')) throw error;
        await sleep(200);
      }
    }
    await sleep(ms);
    await client.query('commit');
    return `${tables.length} tables locked for ${ms / 1000} s`;
  } finally {
    await client.end();
  }
}

/** Confirms that the service's relay holds its leadership lock (a session-level advisory lock). */
async function relayLeaderNote(url: string): Promise<string> {
  const rows = await queryOnce<{ n: number; backlog: number }>(
    url,
    `select (select count(*)::int from pg_locks l join pg_stat_activity a on a.pid = l.pid
              where l.locktype = 'advisory' and l.granted and a.datname = current_database()) as n,
            (select count(*)::int from outbox_message where published_at is null) as backlog`,
  );
  const { n = 0, backlog = 0 } = rows[0] ?? {};
  return n > 0 ? `relay leader held its lock; ${backlog} unpublished outbox rows at the kill` : 'no relay lock held at the kill (the relay had no leader)';
}
