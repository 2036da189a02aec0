import { createLogger, createTokenIssuer, generateSigningKey, openDatabase, type Orm } from '@shopgraph/kit';
import { createTestDatabase } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountsService } from '../src/domain/accounts.service.ts';
import { SigningKeyService } from '../src/domain/signing-key.service.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';
import { uniqueEmail } from './support.ts';

// What replicas do at start, run many times at once against one database (the domain services
// directly, so the calls really overlap rather than queueing behind app start-up).

let orm: Orm;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase('accounts_races');
  drop = db.drop;
  orm = await openDatabase({ url: db.url, entities, migrations, poolMax: 12 });
});

afterAll(async () => {
  await orm?.close();
  await drop?.();
});

const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => orm.em.fork().execute<T[]>(query, params);

describe('start-up races', () => {
  it('creates exactly one signing key however many replicas ask at once', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => new SigningKeyService(orm.em.fork()).ensureKeys()));
    const kids = new Set(results.map((keys) => keys.map((key) => key.kid).join()));
    expect(kids.size).toBe(1);
    expect(await sql('select kid from signing_key')).toHaveLength(1);
  });

  it('creates the configured staff account exactly once however many replicas ask at once', async () => {
    const { privateJwk } = await generateSigningKey();
    const settings = {
      issuer: await createTokenIssuer({ issuer: 'http://test', audience: 'test', privateKey: privateJwk, ttlSeconds: 60 }),
      refreshTokenTtlSeconds: 60,
      logger: createLogger('accounts', 'silent'),
    };
    const staff = { email: uniqueEmail('staff'), password: 'Staff-password-42', name: 'Staff' };
    const outcomes = await Promise.all(Array.from({ length: 3 }, () => new AccountsService(orm.em.fork(), settings).ensureStaff(staff)));
    expect(outcomes.sort()).toEqual(['created', 'unchanged', 'unchanged']);
    expect(await sql(`select id from "user" where email = ?`, [staff.email])).toHaveLength(1);
  });
});
