import { describe, expect, it } from 'vitest';
import { assertOrigin, contracts, InvalidEvent, ownerOf, owners, topics, type EventType } from '../src/index.ts';

describe('ownerOf', () => {
  it('names the service of every contract topic by its context, and nobody for other topics', () => {
    expect(ownerOf('account.user.v1')).toBe('accounts');
    expect(ownerOf('inventory.stock.v1')).toBe('inventory');
    expect(ownerOf('payments.payment.v1')).toBe('payments');
    for (const topic of topics) expect(Object.values(owners), topic).toContain(ownerOf(topic));
    expect(ownerOf('inventory.saga.dlq')).toBeUndefined();
    expect(ownerOf('unknown.thing.v1')).toBeUndefined();
  });
});

describe('assertOrigin', () => {
  const event = (type: EventType, source: string) => ({ type, source });

  it('accepts every type from its topic’s owner, on its topic', () => {
    for (const [type, { topic }] of Object.entries(contracts) as [EventType, { topic: string }][]) {
      expect(() => assertOrigin(event(type, ownerOf(topic)!), topic)).not.toThrow();
    }
  });

  it('refuses an event signed by another service, as invalid, saying why', () => {
    const forged = () => assertOrigin(event('payments.payment.succeeded', 'inventory'), 'payments.payment.v1');
    expect(forged).toThrow(InvalidEvent);
    expect(forged).toThrow('payments.payment.succeeded from source "inventory" refused: only payments publishes on payments.payment.v1');
    // The context's name is not its service's: "account" is not "accounts".
    expect(() => assertOrigin(event('account.user.registered', 'account'), 'account.user.v1')).toThrow(/only accounts publishes/);
  });

  it('refuses an event on a topic other than its type’s, even from that topic’s owner', () => {
    // inventory may write inventory.stock.v1, but not pass a payments event off on it.
    expect(() => assertOrigin(event('payments.payment.succeeded', 'inventory'), 'inventory.stock.v1')).toThrow(new InvalidEvent('payments.payment.succeeded belongs on payments.payment.v1, not on inventory.stock.v1'));
  });
});
