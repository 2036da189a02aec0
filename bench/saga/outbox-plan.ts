// Diagnostic for BENCHMARKS.md: what the outbox relay's queries cost depending on the state of the
// outbox table's statistics and dead tuples. Runs the relay's own SQL (copied from
// packages/kit/src/messaging/relay.ts; keep in sync) on a scratch database, without Kafka.
// Usage: node bench/saga/outbox-plan.ts [--events 20000]
import { createDatabase, databaseUrl, dropDatabase, ensurePostgres, repoDirs } from '@shopgraph/infra';
import { messagingEntities, messagingMigrations, openDatabase, recordEvent, type Orm } from '@shopgraph/kit';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';

// The relay's session settings and its one query per cycle: mark the previous batch, read the next.
const SESSION = 'set synchronous_commit = off; set enable_bitmapscan = off; set enable_seqscan = off; set jit = off';
const MARK_AND_SELECT = `with marked as (update outbox_message set published_at = now() where seq = any($2::bigint[]))
  select o.seq, o.id, o.topic, o.key, o.type, o.envelope::text as value, o.envelope->>'traceparent' as traceparent, o.created_at
    from outbox_message o
   where o.seq = any(array(select seq from outbox_message where published_at is null and seq <> all($2::bigint[]) order by seq limit $1))
   order by o.seq`;
// What the relay ran before: a select of whole rows over the partial index, then an update.
const OLD_SELECT = `select seq, id, topic, key, type, envelope::text as value, envelope->>'traceparent' as traceparent, created_at
         from outbox_message where published_at is null order by seq limit $1`;
const OLD_MARK = 'update outbox_message set published_at = now() where seq = any($1::bigint[])';
const BATCH = 500;

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' } } });
const events = Number(values.events);
const postgres = await ensurePostgres({ dataDir: join(repoDirs().data, 'bench', 'postgres') });
try {
  console.log(`outbox relay queries on a ${events}-event backlog (${postgres.url.replace(/\/\/[^@]*@/, '//')})\n`);
  await probe(true);
  await probe(false);
} finally {
  await postgres.stop();
}

/** The three table states, each on a fresh scratch database, with the relay's old or current queries. */
async function probe(old: boolean): Promise<void> {
  const database = `bench_outbox_plan_${randomBytes(4).toString('hex')}`;
  await createDatabase(postgres.url, database);
  const url = databaseUrl(postgres.url, database);
  let orm: Orm | undefined;
  const client = new pg.Client({ connectionString: url });
  try {
    orm = await openDatabase({ url, entities: messagingEntities, migrations: [...messagingMigrations], service: 'bench' });
    await client.connect();
    if (!old) await client.query(SESSION);
    const next = (sent: string[]) => (old ? client.query<{ seq: string }>(OLD_SELECT, [BATCH]) : client.query<{ seq: string }>({ name: 'next', text: MARK_AND_SELECT, values: [BATCH, sent] }));
    const backlog = async () => {
      for (let written = 0; written < events; written += BATCH) {
        await orm!.em.fork().transactional(async (em) => {
          for (let i = 0; i < BATCH; i++) {
            const orderId = crypto.randomUUID();
            recordEvent(em, 'orders.order.status-changed', orderId, { orderId, userId: crypto.randomUUID(), version: 3, status: 'CONFIRMED', reason: null, at: new Date().toISOString() });
          }
        });
      }
    };
    const plan = async () => {
      const sql = (old ? OLD_SELECT : MARK_AND_SELECT).replace('$1', String(BATCH)).replaceAll('$2', "'{}'");
      const { rows } = await client.query(`explain ${sql}`);
      const nodes = rows.map((r) => String(r['QUERY PLAN']).replace(/^[\s>-]*/, '').replace(/\s+\(cost.*$/, '').replace(/ on outbox_message.*$/, '').replace(/ using outbox_message_unpublished_index/, ''));
      return nodes.filter((n) => /Scan|Sort/.test(n) && !n.startsWith('Sort Key')).join(' ← ');
    };
    /** Drains the backlog as the relay does; per-cycle select and mark times (the current query does both at once). */
    const drain = async () => {
      let select = 0;
      let mark = 0;
      let cycles = 0;
      let sent: string[] = [];
      for (;;) {
        let t = performance.now();
        const { rows } = await next(sent);
        select += performance.now() - t;
        if (rows.length === 0) break;
        sent = rows.map((r) => r.seq);
        if (old) {
          t = performance.now();
          await client.query(OLD_MARK, [sent]);
          mark += performance.now() - t;
        }
        cycles++;
      }
      return { selectMs: select / cycles, markMs: mark / cycles, ceiling: Math.round((BATCH * 1000) / ((select + mark) / cycles)) };
    };
    const emptyPoll = async () => {
      const started = performance.now();
      for (let i = 0; i < 20; i++) await next([]);
      return (performance.now() - started) / 20;
    };
    const row = (name: string, p: string, d: { selectMs: number; markMs: number; ceiling: number }) =>
      console.log(`  ${name.padEnd(58)} ${p.padEnd(42)} select ${d.selectMs.toFixed(1).padStart(5)} ms  mark ${d.markMs.toFixed(1).padStart(5)} ms  per ${BATCH}-row cycle → DB-side ceiling ${d.ceiling} events/s`);

    console.log(old ? 'before: select, then update, default session settings' : 'now: mark the last batch + read the next in one query, relay session settings');
    await backlog();
    row('1. never-analyzed table (a new service, before autovacuum)', await plan(), await drain());
    const dirty = await emptyPoll();
    await client.query('vacuum analyze outbox_message');
    const clean = await emptyPoll();
    await backlog();
    row('2. statistics from an all-published table (steady state)', await plan(), await drain());
    await backlog();
    await client.query('analyze outbox_message');
    row('3. ANALYZE after the backlog was written', await plan(), await drain());
    console.log(`  empty poll: ${dirty.toFixed(2)} ms with ${events} published rows not yet vacuumed, ${clean.toFixed(2)} ms after VACUUM, ${(await emptyPoll()).toFixed(2)} ms with ${2 * events} not yet vacuumed\n`);
  } finally {
    await client.end().catch(() => {});
    await orm?.close();
    await dropDatabase(postgres.url, database);
  }
}
