import pg from 'pg';
import type { Logger } from '../log.ts';
import type { Orm } from '../db.ts';
import type { KafkaClient, OutgoingMessage } from './kafka.ts';
import { errorMessage, sleep } from './internal.ts';
import { OUTBOX_CHANNEL } from './outbox.ts';

export interface RelayOptions {
  orm: Orm;
  kafka: KafkaClient;
  logger: Logger;
  /** Rows read and sent per cycle (default 500); a full batch is followed at once by the next. */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives (default 200 ms). */
  pollIntervalMs?: number;
  /** How often a standby tries to become the publisher (default 1000 ms). */
  lockRetryMs?: number;
  /** Published rows older than this are deleted (default 7 days; 0 keeps them forever). */
  retentionMs?: number;
  /**
   * Metric hook, called after each batch is acknowledged by Kafka: how many events, and for each
   * the time from `recordEvent` (≈ commit, for short transactions) to Kafka's acknowledgement.
   */
  onPublished?: (batch: { count: number; latencyMs: number[] }) => void;
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
 */
export async function startOutboxRelay(options: RelayOptions): Promise<RelayRunner> {
  const { orm, kafka, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const lockRetryMs = options.lockRetryMs ?? 1_000;
  const retentionMs = options.retentionMs ?? 7 * 24 * 3600_000;
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
    keepAlive: true,
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

  let lastCleanup = 0;
  const cycle = async (client: pg.Client): Promise<'idle' | 'more'> => {
    notified = false;
    const { rows } = await client.query<Row>(
      `select seq, id, topic, key, type, envelope::text as value, envelope->>'traceparent' as traceparent, created_at
         from outbox_message where published_at is null order by seq limit $1`,
      [batchSize],
    );
    if (rows.length === 0) {
      if (retentionMs > 0 && Date.now() - lastCleanup > 3600_000) {
        lastCleanup = Date.now();
        const deleted = await client.query(
          `delete from outbox_message where seq in
             (select seq from outbox_message where published_at < now() - make_interval(secs => $1) limit 10000)`,
          [retentionMs / 1000],
        );
        if (deleted.rowCount) log.debug({ deleted: deleted.rowCount }, 'deleted old published outbox rows');
      }
      return 'idle';
    }
    const messages: OutgoingMessage[] = rows.map((row) => ({
      topic: row.topic,
      key: row.key,
      value: row.value,
      headers: { 'event-id': row.id, 'event-type': row.type, ...(row.traceparent ? { traceparent: row.traceparent } : {}) },
    }));
    try {
      await kafka.send(messages);
    } catch (error) {
      throw new SendFailed(error);
    }
    const publishedAt = Date.now();
    await options.afterSend?.({ ids: rows.map((row) => row.id) });
    await client.query('update outbox_message set published_at = now() where seq = any($1::bigint[])', [rows.map((row) => row.seq)]);
    try {
      options.onPublished?.({ count: rows.length, latencyMs: rows.map((row) => publishedAt - row.created_at.getTime()) });
    } catch (error) {
      log.warn({ err: error }, 'onPublished hook failed');
    }
    return rows.length === batchSize ? 'more' : 'idle';
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
      if (outcome === 'idle') await waitForWork();
    }
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
      try {
        await client.connect();
        while (!stopping.signal.aborted && !locked) {
          const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtext(current_database() || $1)) as locked', [LOCK_NAME]);
          locked = rows[0]?.locked === true;
          if (brokenBy) throw brokenBy;
          if (!locked) await sleep(lockRetryMs, stopping.signal);
        }
        if (!locked) break;
        await client.query(`listen ${OUTBOX_CHANNEL}`);
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
