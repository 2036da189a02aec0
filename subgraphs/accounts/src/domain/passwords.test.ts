import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { DERIVATION_NICENESS, hashPassword, needsRehash, passwordProblem, passwordWork, UNMATCHABLE_HASH, verifyPassword } from './passwords.ts';

describe('passwords', () => {
  it('hashes with a fresh salt and verifies only the right password', async () => {
    const [a, b] = await Promise.all([hashPassword('Correct-horse-1'), hashPassword('Correct-horse-1')]);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('Correct-horse-1', a)).toBe(true);
    expect(await verifyPassword('Correct-horse-2', a)).toBe(false);
    expect(needsRehash(a)).toBe(false);
  });

  it('runs at most half the cores’ worth of derivations at once; the rest wait their turn', async () => {
    const atOnce = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(passwordWork().atOnce).toBe(atOnce);
    await hashPassword('Warm-the-threads-1');
    const hashes = Array.from({ length: atOnce + 3 }, (_, i) => hashPassword(`Burst-of-guesses-${i}`));
    expect(passwordWork().waiting).toBe(3);
    expect(new Set(await Promise.all(hashes)).size).toBe(atOnce + 3);
    expect(passwordWork().waiting).toBe(0);
  });

  it('derives on threads at a lower CPU priority than the event loop’s', async () => {
    await hashPassword('Warm-the-threads-1');
    // Linux's nice value is per thread: field 19 of /proc/self/task/<tid>/stat (after the parenthesised name).
    const niceness = readdirSync('/proc/self/task').map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    expect(niceness[0]).toBe(0);
    expect(niceness.filter((nice) => nice === DERIVATION_NICENESS)).toHaveLength(passwordWork().atOnce);
  });

  it('matches the same password typed with composed or decomposed accents', async () => {
    const hash = await hashPassword('Caf\u00e9-au-lait-1');
    expect(await verifyPassword('Cafe\u0301-au-lait-1', hash)).toBe(true);
  });

  it('verifies hashes made with older parameters and flags them for rehashing', async () => {
    const old = await hashPassword('Correct-horse-1', { N: 2 ** 14, r: 8, p: 1 });
    expect(await verifyPassword('Correct-horse-1', old)).toBe(true);
    expect(needsRehash(old)).toBe(true);
  });

  it('never matches a malformed or hostile hash', async () => {
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    expect(await verifyPassword('x', `scrypt$${2 ** 30}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`)).toBe(false);
    expect(await verifyPassword('', UNMATCHABLE_HASH)).toBe(false);
  });

  it('accepts reasonable passwords and names what is wrong with weak ones', () => {
    expect(passwordProblem('correct horse battery')).toBeNull();
    expect(passwordProblem('Sh0rt!')).toMatch(/at least 10/);
    expect(passwordProblem('onlylowercaseletters')).toMatch(/mix/);
    expect(passwordProblem('Aa'.repeat(10))).toMatch(/4 different/);
    expect(passwordProblem(`Aa1-${'x'.repeat(197)}`)).toMatch(/at most 200/);
    expect(passwordProblem('Me@Example.com', 'me@example.com')).toMatch(/email/);
  });
});
