import { describe, expect, it } from 'vitest';
import type { Identity } from '@shopgraph/core/auth';
import { documentBudget } from './document-budget.ts';

const user = (userId: string) => ({ userId }) as Identity;

describe('documentBudget', () => {
  it('draws what each document took: one costly document spends what many cheap ones would', () => {
    let now = 0;
    const budget = documentBudget({ anonymousMsPerS: 5, perUserMsPerS: 2, burstS: 10, now: () => now });
    // 50 ms saved up: 49 documents of 1 ms, and the 50th spends the rest.
    for (let i = 0; i < 50; i++) {
      expect(budget.admits(null)).toBe(true);
      budget.charge(null, 1);
    }
    expect(budget.admits(null)).toBe(false);
    now += 1_000; // 5 ms back
    expect(budget.admits(null)).toBe(true);
    budget.charge(null, 40); // one costly document overdraws it by 35 ms…
    now += 6_000; // …repaid after 7 s, not before
    expect(budget.admits(null)).toBe(false);
    now += 1_001;
    expect(budget.admits(null)).toBe(true);
  });

  it('gives each signed-in user a budget of its own, apart from the anonymous one', () => {
    let now = 0;
    const budget = documentBudget({ anonymousMsPerS: 5, perUserMsPerS: 2, burstS: 10, now: () => now });
    budget.charge(null, 100);
    expect(budget.admits(null)).toBe(false);
    expect(budget.admits(user('a'))).toBe(true);
    budget.charge(user('a'), 20);
    expect(budget.admits(user('a'))).toBe(false);
    expect(budget.admits(user('b'))).toBe(true);
    // Saved up to 10 s' worth, no more.
    now += 60_000;
    budget.charge(user('b'), 20);
    expect(budget.admits(user('b'))).toBe(false);
  });
});
