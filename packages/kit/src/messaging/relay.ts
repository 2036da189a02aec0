import pg from 'pg';
import type { Logger } from '@shopgraph/core/log';
import { failSpan, linkTo, SpanKind, type Tracer } from '@shopgraph/core/tracing';
import type { Orm } from '../db.ts';
import type { KafkaClient, OutgoingMessage } from './kafka.ts';
import { errorMessage } from './internal.ts';
import { sleep } from '@shopgraph/core/lifecycle';
import { OUTBOX_CHANNEL } from './outbox.ts';
import { outboxCleaner, type OutboxCleaner } from './outbox-cleaner.ts';
import { outboxCommits } from './outbox-commits.ts';

export interface RelayOptions {
  orm: Orm;
  kafka: KafkaClient;
  logger: Logger;
  /** Rows read and sent per cycle (default 500); a full batch is followed at once by the next. */
  batchSize?: number;
  /**
   * Fallback poll when nothing wakes the relay (default 1000 ms): every commit that records an event
   * through this ORM wakes it (see below), so the poll only marks the last batch published in a
   * quiet spell and picks up rows written by other processes that run no relay.
   */
  pollIntervalMs?: number;
  /**
   * How long to wait after a NOTIFY before reading (default 5 ms), so the commits of a busy moment
   * go to Kafka in one produce request instead of one each.
   */
  lingerMs?: number;
  /** How often a standby tries to become the publisher (default 1000 ms). */
  lockRetryMs?: number;
  /**
   * Published rows are deleted this long after they were marked (default 1 minute; 0 keeps them
   * forever). Kafka holds the events; a short retention keeps the table and its dead tuples small.
   */
  retentionMs?: number;
  /** How often published rows past the retention are deleted (default 10 s; see outbox-cleaner.ts). */
  cleanupIntervalMs?: number;
  /**
   * Metric hook, called after each batch is acknowledged by Kafka: how many events, and for each
   * the time from `recordEvent` (≈ commit, for short transactions) to Kafka's acknowledgement.
   */
  onPublished?: (batch: { count: number; latencyMs: number[] }) => void;
  /** Traces each published batch (linked to the traces its events were recorded in), when tracing is on. */
  tracer?: Tracer;
  /**
   * Test seam: runs after Kafka acknowledged a batch and before it is marked published. Anything
   * thrown here is handled like a crash at that point: the connection (and the lock) is dropped
   * and the batch is published again by whoever publishes next.
   */
  afterSend?: (batch: { ids: string[] }) => Promise<void> | void;
}

export interface Runner {
  stop(): Promise<void>;
}

export interface RelayRunner extends Runner {
  /** True while this relay holds the database's publisher lock. */
  readonly leader: boolean;
}

const LOCK_NAME = ':outbox-relay';
const MAX_BACKOFF_MS = 5_000;

/**
 * Marks the batches Kafka acknowledged ($2) and reads the next rows, skipping those being sent
 * ($3), in one round trip. Both parts see the same snapshot, so the rows being marked are
 * excluded explicitly. The next seqs are read once (an init plan: index order, with a limit),
 * then their rows by primary key, so no plan sorts or converts the whole backlog.
 */
const MARK_AND_SELECT = `with marked as (update outbox_message set published_at = now() where seq = any($2::bigint[]))
  select o.seq, o.id, o.topic, o.key, o.type, o.envelope::text as value, o.envelope->>'traceparent' as traceparent, o.created_at
    from outbox_message o
   where o.seq = any(array(select seq from outbox_message where published_at is null and seq <> all($2::bigint[]) and seq <> all($3::bigint[]) order by seq limit $1))
   order by o.seq`;
const MARK = 'update outbox_message set published_at = now() where seq = any($1::bigint[])';

/**
 * The relay's own session: a lost mark only means a republish (consumers dedupe), so marks need
 * no WAL flush; and the next-rows query always wants the ordered partial-index scan, which the
 * planner misjudges on a table without statistics or full of dead tuples. (With seq scans
 * priced out, a plan that still needs one would look costly enough to JIT-compile.)
 */
const SESSION_SETTINGS = 'set synchronous_commit = off; set enable_bitmapscan = off; set enable_seqscan = off; set jit = off';

/** Wakes the publisher in another replica: in a transaction of its own, which need not be durable. */
const NOTIFY_PUBLISHER = `select set_config('synchronous_commit', 'off', true), pg_notify('${OUTBOX_CHANNEL}', '')`;

interface Row {
  seq: string;
  id: string;
  topic: string;
  key: string;
  type: string;
  value: string;
  traceparent: string | null;
  created_at: Date;
}

/**
 * Publishes the outbox to Kafka in commit order per key, marks rows published, and survives
 * crashes (at-least-once: a row published but not yet marked is published again) and concurrent
 * relays (only one publishes at a time per database).
 *
 * Every replica may run one: they elect a publisher with a session-level advisory lock on a
 * dedicated connection (not from the ORM pool); the others retry every `lockRetryMs`. A crashed
 * publisher's connection closes, which releases the lock. Kafka being down never loses rows: the
 * batch stays unpublished and is retried with backoff.
 *
 * Woken after each commit that wrote outbox rows through `orm`: directly when this relay is the
 * publisher, else by a NOTIFY (at most one in flight per process, so a burst of commits costs one or
 * two) that the publisher LISTENs for.
 */
export async function startOutboxRelay(options: RelayOptions): Promise<RelayRunner> {
  const { orm, kafka, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const lingerMs = options.lingerMs ?? 5;
  const lockRetryMs = options.lockRetryMs ?? 1_000;
  const retentionMs = options.retentionMs ?? 60_000;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 10_000;
  const log = logger.child({ component: 'outbox-relay' });

  const connection = orm.em.getConnection().getConnectionOptions();
  const driverOptions = orm.config.get('driverOptions') as { ssl?: pg.ClientConfig['ssl'] } | undefined;
  const clientConfig: pg.ClientConfig = {
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database: connection.database,
    ...(driverOptions?.ssl ? { ssl: driverOptions.ssl } : {}),
    application_name: 'outbox-relay',
    connectionTimeoutMillis: 5_000,
    query_timeout: 20_000,
    statement_timeout: 15_000,
    // Without a delay pg leaves the OS's (2 h): an idle leader on a dead socket would hold on that long.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };

  const stopping = new AbortController();
  let leader = false;
  let wakeUp: (() => void) | undefined;
  let notified = false;
  const wake = (): void => {
    notified = true;
    wakeUp?.();
  };
  /** Waits for a NOTIFY, the poll interval or stop(), whichever comes first. */
  const waitForWork = async (): Promise<void> => {
    if (notified || stopping.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pollIntervalMs);
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });
  };
  stopping.signal.addEventListener('abort', () => wakeUp?.());

  let notifying = false;
  let notifyAgain = false;
  const notifyPublisher = async (): Promise<void> => {
    if (notifying) {
      notifyAgain = true;
      return;
    }
    notifying = true;
    try {
      do {
        notifyAgain = false;
        await orm.em.getConnection().execute(NOTIFY_PUBLISHER);
      } while (notifyAgain && !stopping.signal.aborted);
    } catch (error) {
      log.debug({ err: error }, 'could not notify the publisher; it finds the rows at its next poll');
    } finally {
      notifying = false;
    }
  };
  const stopListening = outboxCommits(orm).listen(() => (leader ? wake() : void notifyPublisher()));

  /** Seqs sent to Kafka and not yet marked: marked with the next query (or before letting go of the lock). */
  let sent: string[] = [];
  /** Deletes what this publisher marked, a retention later; one per leadership. */
  let cleaner: OutboxCleaner | undefined;
  const markSent = async (client: pg.Client): Promise<void> => {
    if (sent.length === 0) return;
    await client.query({ name: 'outbox-mark', text: MARK, values: [sent] });
    cleaner?.marked(sent);
    sent = [];
  };
  /** Rows read ahead while the previous batch was being sent: the next to send. */
  let ahead: Row[] = [];
  const next = async (client: pg.Client, sending: string[]): Promise<Row[]> => {
    const { rows } = await client.query<Row>({ name: 'outbox-mark-and-select', text: MARK_AND_SELECT, values: [batchSize, sent, sending] });
    cleaner?.marked(sent);
    sent = [];
    return rows;
  };
  const cycle = async (client: pg.Client): Promise<'idle' | 'more'> => {
    notified = false;
    let rows = ahead;
    ahead = [];
    if (rows.length === 0) {
      rows = await next(client, []);
      if (rows.length === 0) return 'idle';
    }
    const seqs = rows.map((row) => row.seq);
    // A full batch means a backlog: mark the last one and read the next while Kafka takes this one.
    const readAhead = rows.length === batchSize ? next(client, seqs) : undefined;
    readAhead?.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    const messages: OutgoingMessage[] = rows.map((row) => ({
      topic: row.topic,
      key: row.key,
      value: row.value,
      headers: { 'event-id': row.id, 'event-type': row.type, ...(row.traceparent ? { traceparent: row.traceparent } : {}) },
    }));
    let sendError: unknown;
    const span = options.tracer?.startSpan(`publish ${rows.length} event(s)`, {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'kafka', 'messaging.batch.message_count': rows.length },
      links: rows.flatMap((row) => linkTo(row.traceparent)),
    });
    await kafka.send(messages).catch((error: unknown) => (sendError = new SendFailed(error)));
    if (span && sendError) failSpan(span, sendError);
    span?.end();
    const following = await readAhead; // a database error wins: the connection is dropped
    if (sendError) throw sendError; // what was read ahead is read again, after this batch
    const publishedAt = Date.now();
    await options.afterSend?.({ ids: rows.map((row) => row.id) });
    sent = sent.concat(seqs); // with the batch before when no query has marked that yet
    ahead = following ?? [];
    try {
      options.onPublished?.({ count: rows.length, latencyMs: rows.map((row) => publishedAt - row.created_at.getTime()) });
    } catch (error) {
      log.warn({ err: error }, 'onPublished hook failed');
    }
    // Marked by the next query: at once in a backlog, else at the next NOTIFY or poll.
    return ahead.length > 0 ? 'more' : 'idle';
  };

  /** Publishes while this process holds the lock; returns on stop, throws when the connection breaks. */
  const publish = async (client: pg.Client, broken: () => Error | undefined): Promise<void> => {
    let kafkaFailures = 0;
    while (!stopping.signal.aborted) {
      const lost = broken();
      if (lost) throw lost;
      let outcome: 'idle' | 'more';
      try {
        outcome = await cycle(client);
        kafkaFailures = 0;
      } catch (error) {
        if (broken() || !(error instanceof SendFailed)) throw error;
        // Kafka is down or refusing: keep the rows, back off, try again. Never drop anything.
        kafkaFailures++;
        const delay = Math.min(MAX_BACKOFF_MS, 200 * 2 ** (kafkaFailures - 1));
        log.warn({ err: error.cause, attempt: kafkaFailures, retryInMs: delay }, 'outbox relay could not publish; retrying');
        await sleep(delay, stopping.signal);
        continue;
      }
      if (outcome === 'idle') {
        await waitForWork();
        if (lingerMs > 0) await sleep(lingerMs, stopping.signal);
      }
    }
    await markSent(client);
  };

  const run = async (): Promise<void> => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      let brokenBy: Error | undefined;
      const client = new pg.Client(clientConfig);
      client.on('error', (error) => {
        brokenBy = error; // the connection is gone (and with it the lock); the loop starts over
        wake();
      });
      client.on('notification', (message) => {
        if (message.channel === OUTBOX_CHANNEL) wake();
      });
      let locked = false;
      // A new connection starts over from what the table says.
      sent = [];
      ahead = [];
      try {
        await client.connect();
        while (!stopping.signal.aborted && !locked) {
          const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtext(current_database() || $1)) as locked', [LOCK_NAME]);
          locked = rows[0]?.locked === true;
          if (brokenBy) throw brokenBy;
          if (!locked) await sleep(lockRetryMs, stopping.signal);
        }
        if (!locked) break;
        await client.query(`${SESSION_SETTINGS}; listen ${OUTBOX_CHANNEL}`);
        // Statistics for the planner from the start: a new service's table has none until autovacuum gets to it.
        const { rows: unanalyzed } = await client.query(
          `select 1 from pg_stat_user_tables where relid = 'outbox_message'::regclass and last_analyze is null and last_autoanalyze is null`,
        );
        if (unanalyzed.length > 0) await client.query('analyze outbox_message');
        if (retentionMs > 0) {
          const { rows: top } = await client.query<{ seq: string }>('select coalesce(max(seq), 0)::text as seq from outbox_message');
          cleaner = outboxCleaner({ clientConfig, retentionMs, intervalMs: cleanupIntervalMs, startAfter: top[0]!.seq, logger: log });
        }
        leader = true;
        failures = 0;
        log.info('outbox relay is the publisher for this database');
        await publish(client, () => brokenBy);
      } catch (error) {
        failures++;
        const delay = Math.min(MAX_BACKOFF_MS, lockRetryMs * failures);
        log.warn({ err: error, retryInMs: delay }, 'outbox relay lost its database connection; reconnecting');
        await sleep(delay, stopping.signal);
      } finally {
        leader = false;
        await cleaner?.stop();
        cleaner = undefined;
        if (locked && !brokenBy) {
          await client.query('select pg_advisory_unlock(hashtext(current_database() || $1))', [LOCK_NAME]).catch(() => {});
        }
        await client.end().catch(() => {});
      }
    }
  };

  const running = run();
  return {
    get leader() {
      return leader;
    },
    async stop() {
      stopListening();
      stopping.abort();
      await running;
    },
  };
}

/** Kafka refused a batch: retried in place, holding the lock. Anything else drops the connection and starts over. */
class SendFailed extends Error {
  constructor(cause: unknown) {
    super(`publishing to Kafka failed: ${errorMessage(cause)}`, { cause });
    this.name = 'SendFailed';
  }
}
