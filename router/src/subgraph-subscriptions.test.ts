import { describe, expect, it, vi } from 'vitest';
import { authorizationOf, Session } from '@shopgraph/kit';
import { webSocketUrl } from './subgraph-subscriptions.ts';

describe('authorizationOf', () => {
  it('reads a bearer value or a bare token from a connection_init / ping payload', () => {
    expect(authorizationOf({ authorization: 'Bearer a.b.c' })).toBe('Bearer a.b.c');
    expect(authorizationOf({ Authorization: 'Bearer a.b.c' })).toBe('Bearer a.b.c');
    expect(authorizationOf({ token: 'a.b.c' })).toBe('Bearer a.b.c');
    for (const none of [undefined, null, 'Bearer a.b.c', {}, { authorization: '' }, { authorization: 42 }, { token: {} }]) expect(authorizationOf(none)).toBeUndefined();
  });
});

describe('webSocketUrl', () => {
  it('keeps host, port and path, with the WebSocket scheme', () => {
    expect(webSocketUrl('http://127.0.0.1:4007/graphql')).toBe('ws://127.0.0.1:4007/graphql');
    expect(webSocketUrl('https://orders.internal/graphql')).toBe('wss://orders.internal/graphql');
  });
});

describe('Session', () => {
  const identity = (expiresAt: number) => ({ userId: 'u1', scopes: new Set(['customer']), expiresAt });

  it('expires at the token\'s exp, unless refreshed; a refresh re-arms and notifies', () => {
    vi.useFakeTimers({ now: 1_000_000_000 });
    try {
      const nowS = Date.now() / 1000;
      let expired = 0;
      const refreshed: string[] = [];
      const session = new Session(identity(nowS + 10), 'Bearer old', () => expired++);
      session.onRefresh((s) => refreshed.push(s.authorization));
      vi.advanceTimersByTime(9_000);
      session.refresh(identity(nowS + 60), 'Bearer new');
      expect(refreshed).toEqual(['Bearer new']);
      vi.advanceTimersByTime(2_000);
      expect(expired).toBe(0);
      vi.advanceTimersByTime(49_000);
      expect(expired).toBe(1);
      expect(session.expired).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('re-arms a deadline beyond what setTimeout can hold instead of firing early', () => {
    vi.useFakeTimers({ now: 1_000_000_000 });
    try {
      let expired = 0;
      const session = new Session(identity(Date.now() / 1000 + 40 * 24 * 3600), 'Bearer t', () => expired++);
      vi.advanceTimersByTime(2 ** 31);
      expect(expired).toBe(0);
      vi.advanceTimersByTime(40 * 24 * 3600 * 1000);
      expect(expired).toBe(1);
      session.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs close listeners once, and clears its timer', () => {
    vi.useFakeTimers({ now: 1_000_000_000 });
    try {
      let expired = 0;
      let closed = 0;
      const session = new Session(identity(Date.now() / 1000 + 10), 'Bearer t', () => expired++);
      session.onClose(() => closed++);
      session.close();
      session.close();
      vi.advanceTimersByTime(20_000);
      expect({ closed, expired }).toEqual({ closed: 1, expired: 0 });
      session.onClose(() => closed++); // after the fact: runs at once
      expect(closed).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
