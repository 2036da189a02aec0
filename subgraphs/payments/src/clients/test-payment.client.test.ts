import { describe, expect, it } from 'vitest';
import { TEST_PAYMENT_METHODS, TestPaymentProvider, type ChargeLedger, type LedgerEntry } from './test-payment.client.ts';

/** The ledger's contract (first entry per key wins) over a Map. */
function memoryLedger(): ChargeLedger & { entries: Map<string, LedgerEntry> } {
  const entries = new Map<string, LedgerEntry>();
  return {
    entries,
    record: async (entry) => {
      if (!entries.has(entry.idempotencyKey)) entries.set(entry.idempotencyKey, entry);
      return entries.get(entry.idempotencyKey)!;
    },
  };
}

const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('TestPaymentProvider', () => {
  it('charges pm_card_visa, with a reference to refund it by', async () => {
    const ledger = memoryLedger();
    const result = await new TestPaymentProvider(ledger).charge({ idempotencyKey: 'k1', amount: usd(1999), method: 'pm_card_visa' });
    expect(result).toEqual({ status: 'succeeded', reference: expect.stringMatching(/^ch_test_[0-9a-f]{24}$/) });
    expect([...ledger.entries.values()]).toEqual([
      { idempotencyKey: 'k1', kind: 'charge', amount: 1999, currency: 'USD', outcome: 'succeeded', declineCode: null, reference: (result as { reference: string }).reference },
    ]);
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined', 'Your card was declined.'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds', 'Your card has insufficient funds.'],
    ['pm_card_unknown', 'unknown_payment_method', 'This payment method is not recognised.'],
    ['toString', 'unknown_payment_method', 'This payment method is not recognised.'],
  ])('declines %s as %s', async (method, code, message) => {
    const ledger = memoryLedger();
    expect(await new TestPaymentProvider(ledger).charge({ idempotencyKey: 'k', amount: usd(1), method })).toEqual({ status: 'declined', code, message });
    expect(ledger.entries.get('k')).toMatchObject({ outcome: 'declined', declineCode: code, reference: null });
  });

  it('answers a repeated key with the first result and records it once', async () => {
    const ledger = memoryLedger();
    const provider = new TestPaymentProvider(ledger);
    const first = await provider.charge({ idempotencyKey: 'order-1', amount: usd(500), method: 'pm_card_visa' });
    const again = await provider.charge({ idempotencyKey: 'order-1', amount: usd(500), method: 'pm_card_visa' });
    // Even a changed request does not charge again under a used key.
    const changed = await provider.charge({ idempotencyKey: 'order-1', amount: usd(900), method: 'pm_card_chargeDeclined' });
    expect(again).toEqual(first);
    expect(changed).toEqual(first);
    expect(ledger.entries.size).toBe(1);

    const declined = await provider.charge({ idempotencyKey: 'order-2', amount: usd(500), method: 'pm_card_chargeDeclinedInsufficientFunds' });
    expect(await provider.charge({ idempotencyKey: 'order-2', amount: usd(500), method: 'pm_card_visa' })).toEqual(declined);
    expect(ledger.entries.size).toBe(2);
  });

  it('refunds a charge once per key', async () => {
    const ledger = memoryLedger();
    const provider = new TestPaymentProvider(ledger);
    const charge = await provider.charge({ idempotencyKey: 'order-1', amount: usd(500), method: 'pm_card_visa' });
    if (charge.status !== 'succeeded') throw new Error('expected a charge');
    const refund = await provider.refund({ idempotencyKey: 'refund:order-1', reference: charge.reference, amount: usd(500) });
    expect(refund).toEqual({ status: 'refunded', reference: expect.stringMatching(/^re_test_/) });
    expect(await provider.refund({ idempotencyKey: 'refund:order-1', reference: charge.reference, amount: usd(500) })).toEqual(refund);
    expect([...ledger.entries.values()].map((e) => [e.idempotencyKey, e.kind])).toEqual([['order-1', 'charge'], ['refund:order-1', 'refund']]);
  });

  it('refuses to refund what it never charged, and a key used for the other kind of request', async () => {
    const provider = new TestPaymentProvider(memoryLedger());
    await expect(provider.refund({ idempotencyKey: 'r', reference: 'ch_live_123', amount: usd(1) })).rejects.toThrow(/No test charge/);
    await provider.charge({ idempotencyKey: 'same', amount: usd(1), method: 'pm_card_visa' });
    await expect(provider.refund({ idempotencyKey: 'same', reference: 'ch_test_00', amount: usd(1) })).rejects.toThrow(/was used for a charge/);
  });

  it('offers the three test cards', () => {
    expect(TEST_PAYMENT_METHODS.map((m) => m.id)).toEqual(['pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds']);
    for (const method of TEST_PAYMENT_METHODS) expect(method.description).not.toBe('');
  });
});
