import pg from 'pg';
import type { Logger } from '@shopgraph/core/log';
import { runPeriodically } from '../periodic.ts';
import type { Runner } from './relay.ts';

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

export interface OutboxCleaner extends Runner {
  /** The relay marked these seqs published just now. */
  marked(seqs: readonly string[]): void;
  /** Deletes what was marked at least the retention ago, now (the cleaner also does every `intervalMs`). */
  clean(): Promise<void>;
}

/**
 * Deletes what the publisher marked at least `retentionMs` ago, every `intervalMs`, by seq ranges on
 * the primary key, so the cost follows the rows deleted, never the table's size: after a busy spell
 * the table can hold a million published rows and more dead tuples, which a scan by `published_at`
 * would read at every clean-up. Runs on a connection of its own, so publishing never waits for it,
 * and VACUUMs after large deletions: a queue table's dead tuples pile up faster than autovacuum's
 * default pace on a shared server. `startAfter`: the highest seq when this publisher took over;
 * everything published up to it (by earlier publishers too) goes a retention later.
 */
export function outboxCleaner(options: { clientConfig: pg.ClientConfig; retentionMs: number; intervalMs: number; startAfter: string; logger: Logger }): OutboxCleaner {
  const { retentionMs, logger: log } = options;
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
  // Kept between runs; dropped when it fails (the next run connects again).
  let connection: Promise<pg.Client> | undefined;
  const connect = (): Promise<pg.Client> =>
    (connection ??= (async () => {
      const client = new pg.Client({ ...options.clientConfig, application_name: 'outbox-cleaner', statement_timeout: 300_000, query_timeout: 310_000 });
      client.on('error', () => {}); // the query in progress fails with it
      await client.connect();
      await client.query('set synchronous_commit = off');
      return client;
    })());
  const disconnect = async (): Promise<void> => {
    const client = await connection?.catch(() => undefined);
    connection = undefined;
    await client?.end().catch(() => {});
  };

  const clean = async (): Promise<void> => {
    // Up to what was marked a retention ago; those marks go once it is deleted.
    let due = 0;
    let upTo: bigint | undefined;
    for (const cutoff = Date.now() - retentionMs; due < marks.length && marks[due]!.at <= cutoff; due++) if (upTo === undefined || marks[due]!.upTo > upTo) upTo = marks[due]!.upTo;
    if (upTo === undefined) return;
    lowerToFloor();
    try {
      const client = await connect();
      let deleted = 0;
      for (;;) {
        const { rows } = await client.query<{ n: number; last: string | null }>({ name: 'outbox-clean', text: DELETE, values: [cleanedTo.toString(), upTo.toString(), DELETE_BATCH] });
        const { n, last } = rows[0]!;
        deleted += n;
        if (n < DELETE_BATCH || last === null) break;
        cleanedTo = BigInt(last);
      }
      if (upTo > cleanedTo) cleanedTo = upTo;
      marks.splice(0, due);
      lowerToFloor();
      deletedSinceVacuum += deleted;
      if (deleted > 0) log.debug({ deleted, upTo: upTo.toString() }, 'deleted published outbox rows');
      if (deletedSinceVacuum >= VACUUM_AFTER) {
        deletedSinceVacuum = 0;
        await client.query('vacuum outbox_message');
      }
    } catch (error) {
      await disconnect();
      throw error;
    }
  };
  const periodic = runPeriodically('outbox clean-up', options.intervalMs, log, async () => {
    await clean();
    return false;
  });

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
    clean,
    async stop() {
      await periodic.stop();
      await disconnect();
    },
  };
}
