import pg from 'pg';
import type { Logger } from '@shopgraph/core/log';

/** Rows deleted per statement: each statement is a short transaction of its own. */
const DELETE_BATCH = 10_000;
/** Deleted rows after which the cleaner VACUUMs the table (their dead tuples would slow every scan). */
const VACUUM_AFTER = 100_000;

/**
 * Deletes the published rows of range ($1, $2] by the primary key, in seq order, at most $3; how
 * many, and the last seq. Rows of the range still unpublished (a transaction that got its seq
 * earlier and committed later) are left for when their mark comes.
 */
const DELETE = `with deleted as (
    delete from outbox_message where seq = any(array(
      select seq from outbox_message where seq > $1 and seq <= $2 and published_at is not null order by seq limit $3))
    returning seq)
  select count(*)::int as n, max(seq)::text as last from deleted`;

export interface OutboxCleaner {
  /** The relay marked these seqs published just now. */
  marked(seqs: readonly string[]): void;
  /** Deletes what was marked at least the retention ago, in the background (one run at a time). */
  run(): void;
  /** Waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Deletes what the publisher marked at least `retentionMs` ago, by seq ranges on the primary key,
 * so the cost follows the rows deleted, never the table's size: after a busy spell the table can
 * hold a million published rows and more dead tuples, which a scan by `published_at` would read
 * at every clean-up. Runs on a connection of its own, so publishing never waits for it, and
 * VACUUMs after large deletions: a queue table's dead tuples pile up faster than autovacuum's
 * default pace on a shared server. `startAfter`: the highest seq when this publisher took over;
 * everything published up to it (by earlier publishers too) goes a retention later.
 */
export function outboxCleaner(options: { clientConfig: pg.ClientConfig; retentionMs: number; intervalMs: number; startAfter: string; logger: Logger }): OutboxCleaner {
  const { retentionMs, intervalMs, logger: log } = options;
  // What was marked when, in marking order; and the seq up to which all published rows are gone.
  const marks: { at: number; upTo: bigint }[] = [{ at: Date.now(), upTo: BigInt(options.startAfter) }];
  let cleanedTo = 0n;
  // Just under the lowest seq marked since the last run: a late commit below `cleanedTo` lowers it.
  let floor: bigint | undefined;
  const lowerToFloor = (): void => {
    if (floor !== undefined && floor < cleanedTo) cleanedTo = floor;
    floor = undefined;
  };
  let deletedSinceVacuum = 0;
  let lastRun = 0;
  let running: Promise<void> | undefined;

  const clean = async (upTo: bigint): Promise<void> => {
    lowerToFloor();
    const client = new pg.Client({ ...options.clientConfig, application_name: 'outbox-cleaner', statement_timeout: 300_000, query_timeout: 310_000 });
    client.on('error', () => {}); // the query in progress fails with it
    try {
      await client.connect();
      await client.query('set synchronous_commit = off');
      let deleted = 0;
      for (;;) {
        const { rows } = await client.query<{ n: number; last: string | null }>({ name: 'outbox-clean', text: DELETE, values: [cleanedTo.toString(), upTo.toString(), DELETE_BATCH] });
        const { n, last } = rows[0]!;
        deleted += n;
        if (n < DELETE_BATCH || last === null) break;
        cleanedTo = BigInt(last);
      }
      if (upTo > cleanedTo) cleanedTo = upTo;
      lowerToFloor();
      deletedSinceVacuum += deleted;
      if (deleted > 0) log.debug({ deleted, upTo: upTo.toString() }, 'deleted published outbox rows');
      if (deletedSinceVacuum >= VACUUM_AFTER) {
        deletedSinceVacuum = 0;
        await client.query('vacuum outbox_message');
      }
    } finally {
      await client.end().catch(() => {});
    }
  };

  return {
    marked(seqs) {
      if (seqs.length === 0) return;
      let lowest = BigInt(seqs[0]!);
      let highest = lowest;
      for (const seq of seqs) {
        const n = BigInt(seq);
        if (n < lowest) lowest = n;
        if (n > highest) highest = n;
      }
      if (floor === undefined || lowest - 1n < floor) floor = lowest - 1n;
      marks.push({ at: Date.now(), upTo: highest });
    },
    run() {
      if (running || retentionMs <= 0 || Date.now() - lastRun < intervalMs) return;
      lastRun = Date.now();
      let upTo: bigint | undefined;
      while (marks.length > 0 && marks[0]!.at <= Date.now() - retentionMs) {
        const { upTo: markedUpTo } = marks.shift()!;
        if (upTo === undefined || markedUpTo > upTo) upTo = markedUpTo;
      }
      if (upTo === undefined) return;
      const until = upTo;
      running = clean(until)
        .catch((error: unknown) => {
          // Tried again with the next run: its range starts where this one got to.
          marks.unshift({ at: 0, upTo: until });
          log.warn({ err: error }, 'could not delete published outbox rows; retrying with the next clean-up');
        })
        .finally(() => (running = undefined));
    },
    async stop() {
      await running;
    },
  };
}
