import { createLogger, createTokenVerifier, openDatabase, type Orm } from '@shopgraph/kit';
import { createTestDatabase, graphql } from '@shopgraph/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsApp } from '../src/app.ts';
import { loadAccountsConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';
import { decodeJwt, LOGIN, ME, mutate, PASSWORD, REFRESH, REGISTER, startApp, uniqueEmail, type RunningApp } from './support.ts';

// Starts, restarts and replicas of the service on one database: what must survive, what must not repeat.

let databaseUrl: string;
let orm: Orm;
let drop: () => Promise<void>;
const started: RunningApp[] = [];

beforeAll(async () => {
  const db = await createTestDatabase('accounts_life');
  databaseUrl = db.url;
  drop = db.drop;
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((running) => running.app.close()));
});

afterAll(async () => {
  await orm?.close();
  await drop?.();
});

async function start(env: Record<string, string> = {}): Promise<RunningApp> {
  const running = await startApp(databaseUrl, env);
  started.push(running);
  return running;
}

async function stop(running: RunningApp): Promise<void> {
  started.splice(started.indexOf(running), 1);
  await running.app.close();
}

async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  orm ??= await openDatabase({ url: databaseUrl, entities, migrations, poolMax: 2 });
  return orm.em.fork().execute<T[]>(query, params);
}

const jwksOf = async (running: RunningApp) => ((await (await fetch(running.jwksUrl)).json()) as { keys: { kid: string }[] }).keys;

describe('accounts across starts', () => {
  it('creates a single signing key when two replicas start at once on an empty database', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const [keysA, keysB] = await Promise.all([jwksOf(a), jwksOf(b)]);
    expect(keysA).toHaveLength(1);
    expect(keysB).toEqual(keysA);
    expect(await sql('select kid from signing_key')).toHaveLength(1);

    // A token from one replica is accepted by the other.
    const { accessToken, user } = await mutate(a.url, REGISTER, { email: uniqueEmail('replica'), password: PASSWORD, name: 'R' });
    expect((await graphql(b.url, ME, {}, accessToken)).data!['me'].id).toBe(user.id);
  });

  it('keeps its signing keys across a restart: earlier tokens still verify', async () => {
    const before = await start();
    const kids = (await jwksOf(before)).map((key) => key.kid);
    const { accessToken, refreshToken, user } = await mutate(before.url, REGISTER, { email: uniqueEmail('restart'), password: PASSWORD, name: 'R' });
    await stop(before);

    const after = await start();
    expect((await jwksOf(after)).map((key) => key.kid)).toEqual(kids);
    const verifier = createTokenVerifier({ issuer: 'http://127.0.0.1:4001', audience: 'shopgraph', algorithms: ['ES256'], clockToleranceSeconds: 5, keys: new URL(after.jwksUrl) });
    expect((await verifier.verify(accessToken)).userId).toBe(user.id);
    expect((await graphql(after.url, ME, {}, accessToken)).data!['me'].id).toBe(user.id);
    expect((await mutate(after.url, REFRESH, { refreshToken })).errors).toEqual([]);
  });

  it('creates the staff account from configuration once, with the staff scope', async () => {
    const email = uniqueEmail('staff');
    const env = { STAFF_EMAIL: email, STAFF_PASSWORD: 'Staff-password-42', STAFF_NAME: 'Store Staff' };
    const first = await start(env);
    const login = await mutate(first.url, LOGIN, { email, password: env.STAFF_PASSWORD });
    expect(login.errors).toEqual([]);
    expect(login.user).toMatchObject({ email, name: 'Store Staff' });
    expect(decodeJwt(login.accessToken).claims['scope']).toBe('customer staff');
    const [row] = await sql<{ id: string; password_hash: string; scopes: string[] }>(`select id, password_hash, scopes from "user" where email = ?`, [email]);
    expect(row!.scopes).toEqual(['customer', 'staff']);
    await stop(first);

    // Two more starts at once: nothing duplicated, nothing rewritten, sessions kept.
    const [second] = await Promise.all([start(env), start(env)]);
    const rows = await sql<{ id: string; password_hash: string }>(`select id, password_hash from "user" where email = ?`, [email]);
    expect(rows).toEqual([{ id: row!.id, password_hash: row!.password_hash }]);
    const again = await mutate(second!.url, LOGIN, { email, password: env.STAFF_PASSWORD });
    expect(decodeJwt(again.accessToken).claims['scope']).toBe('customer staff');
    expect((await mutate(second!.url, REFRESH, { refreshToken: login.refreshToken })).errors).toEqual([]);

    // Staff may read any user's email through an entity reference.
    const customer = await mutate(second!.url, REGISTER, { email: uniqueEmail('c'), password: PASSWORD, name: 'C' });
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { email } } }`;
    const asStaff = await graphql(second!.url, query, { r: [{ __typename: 'User', id: customer.user.id }] }, again.accessToken);
    expect(asStaff.data!['_entities']).toEqual([{ email: customer.user.email }]);
  });

  it('takes over an existing account named as staff: password reset, earlier sessions revoked', async () => {
    const email = uniqueEmail('squatter');
    const plain = await start();
    const squatter = await mutate(plain.url, REGISTER, { email, password: PASSWORD, name: 'Early bird' });
    expect(squatter.errors).toEqual([]);
    await stop(plain);

    const staffed = await start({ STAFF_EMAIL: email, STAFF_PASSWORD: 'Staff-password-42' });
    expect((await mutate(staffed.url, REFRESH, { refreshToken: squatter.refreshToken })).errors[0].code).toBe('INVALID_REFRESH_TOKEN');
    expect((await mutate(staffed.url, LOGIN, { email, password: PASSWORD })).errors[0].code).toBe('INVALID_CREDENTIALS');
    const staff = await mutate(staffed.url, LOGIN, { email, password: 'Staff-password-42' });
    expect(decodeJwt(staff.accessToken).claims).toMatchObject({ sub: squatter.user.id, scope: 'customer staff' });
  });

  it('fails fast on a bad staff configuration', async () => {
    expect(() => loadAccountsConfig({ DATABASE_URL: databaseUrl, STAFF_EMAIL: 'a@example.com' })).toThrow(/STAFF_EMAIL and STAFF_PASSWORD/);
    const config = loadAccountsConfig({ DATABASE_URL: databaseUrl, STAFF_EMAIL: uniqueEmail('weak'), STAFF_PASSWORD: 'short' });
    await expect(createAccountsApp({ config, logger: createLogger('accounts', 'silent') })).rejects.toThrow(/STAFF_\*.*at least 10/);
  });
});
