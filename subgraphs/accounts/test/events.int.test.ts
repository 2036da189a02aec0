import type { Orm } from '@shopgraph/kit';
import { eventually, observe, type EventObserver, type ServiceUnderTest } from '@shopgraph/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutate, PASSWORD, REGISTER, startAccounts, uniqueEmail } from './support.ts';

// account.user.registered: recorded with the user in one transaction, published by the relay.

let running: ServiceUnderTest;
let orm: Orm;
let observer: EventObserver;
const STAFF_EMAIL = uniqueEmail('staff');

beforeAll(async () => {
  running = await startAccounts({ STAFF_EMAIL, STAFF_PASSWORD: 'Staff-password-42' });
  orm = running.orm;
  observer = await observe('account.user.v1');
});

afterAll(async () => {
  await observer?.close();
  await running?.close();
});

const register = (input: Record<string, unknown>) => mutate(running.url, REGISTER, { name: 'Ada Lovelace', password: PASSWORD, ...input });
const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => orm.em.fork().execute<T[]>(query, params);

/** The outbox rows recorded for an email, published or not. */
const outboxFor = (email: string) =>
  sql<{ key: string; type: string; published_at: string | null }>(`select key, type, published_at from outbox_message where envelope->'data'->>'email' = ? order by seq`, [email]);
const publishedFor = (email: string) => observer.received.filter((e) => (e.envelope.data as { email?: string }).email === email);

describe('account.user.registered', () => {
  it('is published once when a customer registers, keyed by the user id', async () => {
    const email = uniqueEmail('ada');
    const { user, errors } = await register({ email, name: ' Ada Lovelace ' });
    expect(errors).toEqual([]);

    const [event] = await observer.waitFor((e) => e.envelope.subject === user.id);
    expect(event).toMatchObject({ topic: 'account.user.v1', key: user.id });
    expect(event!.envelope).toMatchObject({ type: 'account.user.registered', source: 'accounts', subject: user.id, dataVersion: 1 });
    expect(event!.envelope.data).toEqual({ userId: user.id, email, name: 'Ada Lovelace' });

    // One row, marked published once Kafka acknowledged it; a second registration's event
    // arriving after it proves the relay has moved on without sending this one again.
    await eventually(async () => (await outboxFor(email)).every((row) => row.published_at !== null), 'the outbox row to be marked published');
    expect(await outboxFor(email)).toEqual([{ key: user.id, type: 'account.user.registered', published_at: expect.anything() }]);
    const next = await register({ email: uniqueEmail('next') });
    await observer.waitFor((e) => e.envelope.subject === next.user.id);
    expect(publishedFor(email)).toHaveLength(1);
  });

  it('is not recorded when registration fails', async () => {
    const email = uniqueEmail('taken');
    expect((await register({ email })).errors).toEqual([]);
    expect((await register({ email })).errors[0].code).toBe('EMAIL_TAKEN');
    const weak = uniqueEmail('weak');
    expect((await register({ email: weak, password: 'short' })).errors[0].code).toBe('WEAK_PASSWORD');

    expect(await outboxFor(email)).toHaveLength(1);
    expect(await outboxFor(weak)).toEqual([]);
  });

  it('is recorded exactly once when the same email registers 8 times at once (losers roll theirs back)', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(Array.from({ length: 8 }, () => register({ email })));
    const winners = results.filter((r) => r.errors.length === 0);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.errors[0]?.code === 'EMAIL_TAKEN')).toHaveLength(7);

    expect((await outboxFor(email)).map((row) => [row.key, row.type])).toEqual([[winners[0].user.id, 'account.user.registered']]);
    const [event] = await observer.waitFor((e) => e.envelope.subject === winners[0].user.id);
    expect(event!.envelope.data).toMatchObject({ userId: winners[0].user.id, email });
  });

  it('is published for the staff account created from configuration', async () => {
    const [event] = await observer.waitFor((e) => (e.envelope.data as { email?: string }).email === STAFF_EMAIL);
    expect(event!.envelope).toMatchObject({ type: 'account.user.registered', data: { email: STAFF_EMAIL, name: 'Staff' } });
  });
});
