import { createRedis } from '@shopgraph/kit';
import { redisUrl, testLogger, testRedisKeyPrefix, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryAttempts, redisAttempts } from '../src/clients/attempts.client.ts';
import { LOGIN, PASSWORD, REFRESH, REGISTER, startAccounts, uniqueEmail, type RunningApp } from './support.ts';

// Attacks on sign-in: one request multiplying password hashes, and guessing passwords.

let running: ServiceUnderTest & RunningApp;
let passwordWork = 0;

beforeAll(async () => {
  // As behind the router: the client's address is the last X-Forwarded-For entry.
  running = await startAccounts({ TRUST_PROXY_HOPS: '1' }, { onPasswordWork: () => passwordWork++ });
});
afterAll(async () => {
  await running?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A GraphQL request from a client IP (as the router forwards it). */
async function from(ip: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(running.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.250, ${ip}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as { data?: Record<string, any> | null; errors?: { extensions?: { code?: string } }[] }) };
}

const login = async (ip: string, email: string, password: string) => (await from(ip, LOGIN, { input: { email, password } })).data!['login'];

async function registered(): Promise<string> {
  const email = uniqueEmail('abuse');
  const response = await from('198.51.100.1', REGISTER, { input: { email, password: PASSWORD, name: 'Ada' } });
  expect(response.data!['register'].errors).toEqual([]);
  return email;
}

describe('expensive fields run once per operation', () => {
  const signIn = (alias: string) => `${alias}: login(input: { email: "nobody@example.com", password: "Wrong-password-1" }) { accessToken errors { code } }`;

  it.each([
    ['aliases', `mutation { ${signIn('a')} ${signIn('b')} }`],
    ['a fragment spread twice', `mutation { ...F ...F } fragment F on Mutation { ${signIn('a')} }`],
    ['inline fragments', `mutation { ... { ${signIn('a')} } ... on Mutation { ${signIn('b')} } }`],
    ['login and register', `mutation { ${signIn('a')} register(input: { email: "x@example.com", password: "${PASSWORD}", name: "X" }) { errors { code } } }`],
    ['twenty aliases', `mutation { ${Array.from({ length: 20 }, (_, i) => signIn(`l${i}`)).join(' ')} }`],
  ])('refuses %s before any password is hashed', async (_, query) => {
    const before = passwordWork;
    const response = await from('198.51.100.2', query);
    expect(response.data).toBeNull();
    expect(new Set(response.errors?.map((error) => error.extensions?.code))).toEqual(new Set(['EXPENSIVE_FIELD_REPEATED']));
    expect(passwordWork).toBe(before);
  });

  it('runs one sign-in with other fields beside it, once', async () => {
    const email = await registered();
    const before = passwordWork;
    const response = await from('198.51.100.2', `mutation($input: LoginInput!) { login(input: $input) { accessToken errors { code } } logout(input: { refreshToken: "none" }) { errors { code } } }`, { input: { email, password: PASSWORD } });
    expect(response.errors).toBeUndefined();
    expect(response.data!['login'].accessToken).toBeTruthy();
    expect(passwordWork).toBe(before + 1);
  });

  it('refuses sign-ins sent in a batch (400), hashing no password', async () => {
    const body = JSON.stringify([1, 2].map(() => ({ query: LOGIN, variables: { input: { email: 'a@example.com', password: 'Wrong-password-1' } } })));
    const before = passwordWork;
    const response = await fetch(running.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(400);
    expect(passwordWork).toBe(before);
  });
});

describe('password guessing', () => {
  it('makes one IP guessing one account wait 2^k s past 5 attempts, without hashing; the owner elsewhere signs in; success resets', async () => {
    const email = await registered();
    const attacker = '192.0.2.10';
    for (let i = 0; i < 6; i++) expect((await login(attacker, email, `Wrong-guess-${i}`)).errors).toMatchObject([{ code: 'INVALID_CREDENTIALS' }]);

    let before = passwordWork;
    const refused = await login(attacker, email, PASSWORD);
    expect(refused).toMatchObject({ accessToken: null, retryAfterSeconds: 1, errors: [{ code: 'TOO_MANY_ATTEMPTS' }] });
    expect(passwordWork).toBe(before);

    // The owner, on another network, is not slowed down.
    const owner = await login('198.51.100.77', email, PASSWORD);
    expect(owner.errors).toEqual([]);

    await sleep(1_100);
    expect((await login(attacker, email, 'Wrong-guess-7')).errors[0].code).toBe('INVALID_CREDENTIALS');
    before = passwordWork;
    expect(await login(attacker, email, 'Wrong-guess-8')).toMatchObject({ retryAfterSeconds: 2, errors: [{ code: 'TOO_MANY_ATTEMPTS' }] });
    expect(passwordWork).toBe(before);

    // The right password, once allowed, resets the count: five free attempts again.
    await sleep(2_100);
    expect((await login(attacker, email, PASSWORD)).errors).toEqual([]);
    for (let i = 0; i < 5; i++) expect((await login(attacker, email, `Wrong-again-${i}`)).errors[0].code).toBe('INVALID_CREDENTIALS');
  });

  it('counts concurrent attempts before any of them runs: a burst gets its free attempts and one more, no more', async () => {
    const email = await registered();
    const before = passwordWork;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login('192.0.2.20', email, `Burst-guess-${i}`)));
    const codes = results.map((result) => result.errors[0].code);
    expect(codes.filter((code) => code === 'INVALID_CREDENTIALS')).toHaveLength(6);
    expect(codes.filter((code) => code === 'TOO_MANY_ATTEMPTS')).toHaveLength(14);
    expect(passwordWork - before).toBe(6);
  });

  it('keeps its counters in Redis, each expiring within the hour', async () => {
    const client = createRedis({ url: redisUrl(), name: 'accounts-test', logger: testLogger('redis') });
    try {
      await new Promise<void>((resolve) => (client.ready ? resolve() : client.onReady(resolve)));
      expect((await login('192.0.2.40', await registered(), 'Wrong-guess')).errors[0].code).toBe('INVALID_CREDENTIALS');
      const keys = await client.redis.keys(`${testRedisKeyPrefix}throttle:*`);
      expect(keys.length).toBeGreaterThan(0);
      // No e-mail address in a key, only its hash.
      expect(keys.filter((key) => key.includes('@'))).toEqual([]);
      for (const key of keys.filter((k) => k.endsWith(':n'))) {
        const ttl = await client.redis.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60 * 60 * 1000);
      }
    } finally {
      await client.close();
    }
  });

  it('slows down refresh-token guessing per IP', async () => {
    const results = [];
    for (let i = 0; i < 52; i++) results.push((await from('192.0.2.30', REFRESH, { input: { refreshToken: `guess-${i}` } })).data!['refreshToken']);
    expect(results.slice(0, 51).every((result) => result.errors[0].code === 'INVALID_REFRESH_TOKEN')).toBe(true);
    expect(results[51]).toMatchObject({ retryAfterSeconds: 1, errors: [{ code: 'TOO_MANY_ATTEMPTS' }] });
    // Another client refreshes its own token as usual.
    const email = await registered();
    const session = await login('198.51.100.3', email, PASSWORD);
    const refreshed = (await from('198.51.100.3', REFRESH, { input: { refreshToken: session.refreshToken } })).data!['refreshToken'];
    expect(refreshed.errors).toEqual([]);
  });
});

describe('attempt counters while Redis is away', () => {
  it('count in this process instead (fail open to a local limit, not to none)', async () => {
    const client = createRedis({ url: 'redis://127.0.0.1:1', name: 'accounts-test', logger: testLogger('redis'), maxReconnectDelayMs: 60_000 });
    try {
      const store = redisAttempts({ client, keyPrefix: testRedisKeyPrefix, logger: testLogger('attempts'), fallback: memoryAttempts() });
      const rule = [{ key: 'a:away', free: 2 }];
      expect([await store.begin(rule), await store.begin(rule), await store.begin(rule)]).toEqual([0, 0, 0]);
      expect(await store.begin(rule)).toBeGreaterThan(900);
      await store.succeed(['a:away'], []);
      expect(await store.begin(rule)).toBe(0);
    } finally {
      await client.close();
    }
  });
});
