// Where Postgres sessions spend their time: pg_stat_activity sampled every ~20 ms.
import pg from 'pg';
import { round } from './stats.ts';
import { sleep } from '@shopgraph/core/lifecycle';

/**
 * Samples the sessions of databases matching `databaseLike` (a LIKE pattern) until `signal`
 * aborts; resolves with the average number of sessions per state: `active: <wait event>` (or
 * `active: on CPU`) and `idle in transaction` (a transaction waiting for its client). Connect
 * through another database (e.g. `postgres`) so the sampler is not counted itself.
 */
export async function sampleSessions(url: string, databaseLike: string, signal: AbortSignal): Promise<Record<string, number>> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const counts = new Map<string, number>();
  let samples = 0;
  try {
    while (!signal.aborted) {
      const { rows } = await db.query<{ what: string; n: number }>(
        `select case when state = 'active' then 'active: ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') else state end as what, count(*)::int as n
           from pg_stat_activity where datname like $1 and pid <> pg_backend_pid() and state in ('active', 'idle in transaction') group by 1`,
        [databaseLike],
      );
      for (const row of rows) counts.set(row.what, (counts.get(row.what) ?? 0) + row.n);
      samples++;
      await sleep(20, signal);
    }
  } finally {
    await db.end();
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => [what, round(n / Math.max(1, samples), 3)]));
}
