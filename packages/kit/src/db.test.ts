import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseConfig, postgresTls } from './db.ts';

const dir = mkdtempSync(join(tmpdir(), 'kit-db-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const base = 'postgres://app:secret@db.example:5432/orders';

describe('postgresTls', () => {
  it('leaves a URL without sslmode (or with disable) to plaintext', () => {
    expect(postgresTls(base)).toBeUndefined();
    expect(postgresTls(`${base}?sslmode=disable`)).toBeUndefined();
  });

  it('require encrypts without checking the server, as libpq does', () => {
    expect(postgresTls(`${base}?sslmode=require`)).toEqual({ rejectUnauthorized: false });
  });

  it('verify-full checks the chain against sslrootcert and the host name', () => {
    const ca = file('root.crt', '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n');
    const tls = postgresTls(`${base}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`);
    expect(tls).toEqual({ ca: '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n' });
    expect(tls!.rejectUnauthorized).toBeUndefined(); // node's default: verified
    expect(tls!.checkServerIdentity).toBeUndefined(); // node's default: the name checked
  });

  it('verify-ca (and require with a root certificate) checks the chain but not the name; client certificates are read', () => {
    const ca = file('ca.crt', 'CA');
    const cert = file('client.crt', 'CERT');
    const key = file('client.key', 'KEY');
    for (const mode of ['verify-ca', 'require']) {
      const tls = postgresTls(`${base}?sslmode=${mode}&sslrootcert=${ca}&sslcert=${cert}&sslkey=${key}`)!;
      expect(tls).toMatchObject({ ca: 'CA', cert: 'CERT', key: 'KEY' });
      expect(tls.rejectUnauthorized).toBeUndefined();
      expect(tls.checkServerIdentity!('db.example', {} as never)).toBeUndefined();
    }
  });

  it('sslrootcert=system verifies against the system CAs', () => {
    expect(postgresTls(`${base}?sslmode=verify-full&sslrootcert=system`)).toEqual({});
  });

  it('names the file it cannot read, and a mode pg cannot honour', () => {
    expect(() => postgresTls(`${base}?sslmode=verify-full&sslrootcert=${join(dir, 'missing.crt')}`)).toThrow(/DATABASE_URL: cannot read sslrootcert .*missing\.crt/);
    expect(() => postgresTls(`${base}?sslmode=prefer`)).toThrow(/sslmode=prefer is not supported/);
  });
});

describe('databaseConfig', () => {
  it('takes the sslmodes pg can honour and refuses the ones that fall back to plaintext', () => {
    expect(databaseConfig.parse({ DATABASE_URL: `${base}?sslmode=verify-full&sslrootcert=/etc/ca.crt` }).DATABASE_URL).toBe(`${base}?sslmode=verify-full&sslrootcert=/etc/ca.crt`);
    expect(databaseConfig.safeParse({ DATABASE_URL: base }).success).toBe(true);
    expect(databaseConfig.safeParse({ DATABASE_URL: 'not a url' }).error!.issues.map((i) => i.message)).toEqual([expect.stringMatching(/a postgres:\/\/ .*URL/)]);
    for (const mode of ['prefer', 'allow', 'bogus']) {
      const parsed = databaseConfig.safeParse({ DATABASE_URL: `${base}?sslmode=${mode}` });
      expect(parsed.success, mode).toBe(false);
      expect(parsed.error!.issues[0]!.message).toMatch(/sslmode must be/);
    }
  });
});
