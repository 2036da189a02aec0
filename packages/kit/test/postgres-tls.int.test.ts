// sslmode in DATABASE_URL reaches pg: MikroORM builds pg's options from the URL's host, port,
// user and database only, so the kit passes the TLS settings itself (db.ts postgresTls).
import { createTestDatabase } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Orm } from '../src/db.ts';
import { openMessagingDatabase } from './support.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const opened: Orm[] = [];
beforeAll(async () => {
  db = await createTestDatabase('tls');
});
afterAll(async () => {
  for (const orm of opened) await orm.close();
  await db?.drop();
});

const withSslMode = (url: string, mode: string): string => {
  const parsed = new URL(url);
  parsed.searchParams.set('sslmode', mode);
  return parsed.href;
};
const open = async (url: string): Promise<Orm> => {
  const orm = await openMessagingDatabase(url);
  opened.push(orm);
  return orm;
};
const encrypted = async (orm: Orm): Promise<boolean> => {
  const [row] = await orm.em.getConnection().execute<{ ssl: boolean }[]>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
  return row!.ssl;
};

describe('DATABASE_URL sslmode', () => {
  it('require encrypts the connection, or fails against a server without TLS; disable and none stay plaintext', async () => {
    const plain = await open(db.url);
    expect(await encrypted(plain)).toBe(false);
    expect(await encrypted(await open(withSslMode(db.url, 'disable')))).toBe(false);
    const [{ ssl: serverTls } = { ssl: 'off' }] = await plain.em.getConnection().execute<{ ssl: string }[]>(`select current_setting('ssl') as ssl`);
    const required = withSslMode(db.url, 'require');
    if (serverTls === 'on') {
      expect(await encrypted(await open(required))).toBe(true);
    } else {
      // The suite's own Postgres has no TLS: asked for it, the client must refuse to go on in plaintext.
      await expect(open(required)).rejects.toThrow(/does not support SSL/);
    }
  });
});
