import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from './ports.ts';
import { createDatabase, databaseUrl, dropDatabase, ensurePostgres, pingPostgres, startEmbeddedPostgres } from './postgres.ts';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'infra-pg-'));
  chmodSync(dir, 0o755); // embedded Postgres runs as user "postgres" when we are root
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const databaseExists = async (adminUrl: string, name: string): Promise<boolean> =>
  (await query(adminUrl, `SELECT 1 FROM pg_database WHERE datname = '${name}'`)).length === 1;

describe('databaseUrl', () => {
  it('swaps only the database name', () => {
    expect(databaseUrl('postgres://postgres@127.0.0.1:5432/postgres', 'catalog')).toBe('postgres://postgres@127.0.0.1:5432/catalog');
    expect(databaseUrl('postgresql://u:p%40ss@db.local/admin?sslmode=disable', 'orders')).toBe(
      'postgresql://u:p%40ss@db.local/orders?sslmode=disable',
    );
    expect(databaseUrl('postgres://u@h:1', 'x')).toBe('postgres://u@h:1/x');
  });
});

describe('ensurePostgres', () => {
  const savedEnv = process.env.DATABASE_URL;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedEnv;
  });

  it('returns an admin URL that answers, and create/drop database work through it', async () => {
    const { url, stop } = await ensurePostgres({ dataDir: join(tempDir(), 'postgres') });
    try {
      expect((await query<{ one: number }>(url, 'SELECT 1 AS one'))[0]?.one).toBe(1);
      const name = `infra_test_${process.pid}_${Date.now()}`;
      await createDatabase(url, name);
      await createDatabase(url, name); // idempotent
      expect(await databaseExists(url, name)).toBe(true);

      // An open session must not block the drop.
      const held = new pg.Client({ connectionString: databaseUrl(url, name), connectionTimeoutMillis: 3000 });
      held.on('error', () => {});
      await held.connect();
      await held.query('CREATE TABLE t (id int)');
      await dropDatabase(url, name);
      await held.end().catch(() => {});
      expect(await databaseExists(url, name)).toBe(false);
      await dropDatabase(url, name); // dropping a missing database is fine
    } finally {
      await stop();
    }
  });

  it('fails loudly instead of starting another server when DATABASE_URL does not answer', async () => {
    process.env.DATABASE_URL = `postgres://postgres:secret@127.0.0.1:${await freePort()}/postgres`;
    const attempt = ensurePostgres({ dataDir: join(tempDir(), 'postgres') });
    await expect(attempt).rejects.toThrow(/DATABASE_URL is set \(postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres\) but Postgres there does not answer/);
  });
});

describe('startEmbeddedPostgres', () => {
  it('starts a real server from npm binaries, keeps data across restarts, and stops', async () => {
    const dataDir = join(tempDir(), 'postgres');
    const first = await startEmbeddedPostgres({ dataDir });
    try {
      const [row] = await query<{ server_version: string }>(first.url, 'SHOW server_version');
      expect(row?.server_version).toMatch(/^15\./);
      await createDatabase(first.url, 'kept');
      await query(databaseUrl(first.url, 'kept'), 'CREATE TABLE survivor (id int); INSERT INTO survivor VALUES (42)');
    } finally {
      await first.stop();
    }
    await expect(pingPostgres(first.url, 1000)).rejects.toThrow();

    const second = await startEmbeddedPostgres({ dataDir });
    try {
      expect(await query(databaseUrl(second.url, 'kept'), 'SELECT id FROM survivor')).toEqual([{ id: 42 }]);
      await dropDatabase(second.url, 'kept');
      expect(await databaseExists(second.url, 'kept')).toBe(false);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
