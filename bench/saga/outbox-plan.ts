// Diagnostic for BENCHMARKS.md: what the outbox relay's queries cost depending on the state of the
// outbox table's statistics and dead tuples. Runs the relay's own SQL (copied from
// packages/kit/src/messaging/relay.ts; keep in sync) on a scratch database, without Kafka.
// Usage: node bench/saga/outbox-plan.ts [--events 20000]
import { createDatabase, databaseUrl, dropDatabase, ensurePostgres, repoDirs } from '@shopgraph/infra';
import { messagingEntities, messagingMigration, openDatabase, recordEvent, type Orm } from '@shopgraph/kit';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';

const SELECT = `select seq, id, topic, key, type, envelope::text as value, envelope->>'traceparent' as traceparent, created_at
         from outbox_message where published_at is null order by seq limit $1`;
const MARK = 'update outbox_message set published_at = now() where seq = any($1::bigint[])';
const BATCH = 500;

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' } } });
const events = Number(values.events);
const postgres = await ensurePostgres({ dataDir: join(repoDirs().data, 'bench', 'postgres') });
const database = `bench_outbox_plan_${randomBytes(4).toString('hex')}`;
await createDatabase(postgres.url, database);
const url = databaseUrl(postgres.url, database);
let orm: Orm | undefined;
const client = new pg.Client({ connectionString: url });
try {
  orm = await openDatabase({ url, entities: messagingEntities, migrations: [messagingMigration], service: 'bench' });
  await client.connect();
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
    const { rows } = await client.query(`explain ${SELECT.replace('$1', String(BATCH))}`);
    const nodes = rows.map((r) => String(r['QUERY PLAN']).replace(/^[\s>-]*/, '').replace(/\s+\(cost.*$/, '').replace(/ on outbox_message.*$/, '').replace(/ using outbox_message_unpublished_index/, ''));
    return nodes.filter((n) => /Scan|Sort/.test(n) && !n.startsWith('Sort Key')).join(' ← ');
  };
  /** Drains the backlog with the relay's queries; per-cycle select and mark times. */
  const drain = async () => {
    let select = 0;
    let mark = 0;
    let cycles = 0;
    for (;;) {
      let t = performance.now();
      const { rows } = await client.query<{ seq: string }>(SELECT, [BATCH]);
      select += performance.now() - t;
      if (rows.length === 0) break;
      t = performance.now();
      await client.query(MARK, [rows.map((r) => r.seq)]);
      mark += performance.now() - t;
      cycles++;
    }
    return { selectMs: select / cycles, markMs: mark / cycles, ceiling: Math.round((BATCH * 1000) / ((select + mark) / cycles)) };
  };
  const emptyPoll = async () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) await client.query(SELECT, [BATCH]);
    return (performance.now() - started) / 20;
  };
  const row = (name: string, p: string, d: { selectMs: number; markMs: number; ceiling: number }) =>
    console.log(`${name.padEnd(58)} ${p.padEnd(42)} select ${d.selectMs.toFixed(1).padStart(5)} ms  mark ${d.markMs.toFixed(1).padStart(5)} ms  per ${BATCH}-row cycle → DB-side ceiling ${d.ceiling} events/s`);

  console.log(`outbox relay queries on a ${events}-event backlog (${database}, ${postgres.url.replace(/\/\/[^@]*@/, '//')})\n`);
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
  console.log(`\nempty poll (the relay's idle query, every 200 ms and after every NOTIFY): ${dirty.toFixed(2)} ms with ${events} published rows not yet vacuumed, ${clean.toFixed(2)} ms after VACUUM`);
  const vacuumed = await emptyPoll();
  console.log(`                                                                  ${vacuumed.toFixed(2)} ms with ${2 * events} published rows not yet vacuumed (after cases 2 and 3)`);
} finally {
  await client.end().catch(() => {});
  await orm?.close();
  await dropDatabase(postgres.url, database);
  await postgres.stop();
}
