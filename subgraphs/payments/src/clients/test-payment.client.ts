import type { InferKyselyDB } from '@mikro-orm/postgresql';
import { inSpan, serviceTracer, SpanKind, type EntityManager } from '@shopgraph/kit';
import { randomBytes } from 'node:crypto';
import type { ChargeResult, PaymentGateway, PaymentMethod, PaymentProvider, RefundResult } from '../domain/payment-provider.ts';
import type { TestProviderCharge } from '../entities/test-provider-charge.entity.ts';

/** The test cards, named like Stripe's test payment methods, and what charging them does. */
const TEST_CARDS: Record<string, { description: string; decline?: { code: string; message: string } }> = {
  pm_card_visa: { description: 'Visa test card: charges succeed' },
  pm_card_chargeDeclined: { description: 'Test card: charges are declined', decline: { code: 'card_declined', message: 'Your card was declined.' } },
  pm_card_chargeDeclinedInsufficientFunds: {
    description: 'Test card: charges are declined for insufficient funds',
    decline: { code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  },
};

const UNKNOWN_METHOD = { code: 'unknown_payment_method', message: 'This payment method is not recognised.' };

export const TEST_PAYMENT_METHODS: readonly PaymentMethod[] = Object.entries(TEST_CARDS).map(([id, { description }]) => ({ id, description }));

/** One request the provider has answered, stored under its idempotency key. */
export interface LedgerEntry {
  idempotencyKey: string;
  kind: 'charge' | 'refund';
  amount: number;
  currency: string;
  outcome: 'succeeded' | 'declined';
  declineCode: string | null;
  reference: string | null;
}

/** Where the test provider keeps what it answered. */
export interface ChargeLedger {
  /** Stores the entry unless its key is taken; resolves with the entry stored under the key (the first one). */
  record(entry: LedgerEntry): Promise<LedgerEntry>;
}

/**
 * The built-in provider: no network, no money, deterministic by payment method (see TEST_CARDS;
 * any other method is declined as `unknown_payment_method`). Idempotent by key like a real
 * provider: the first answer for a key is stored in its ledger and answered again for that key,
 * with no second ledger row.
 */
export class TestPaymentProvider implements PaymentProvider {
  private readonly ledger: ChargeLedger;

  constructor(ledger: ChargeLedger) {
    this.ledger = ledger;
  }

  charge(request: Parameters<PaymentProvider['charge']>[0]): Promise<ChargeResult> {
    return inSpan(serviceTracer('payments'), 'payment provider charge', { kind: SpanKind.CLIENT, attributes: { 'payment.method': request.method } }, () => this.chargeOnce(request));
  }

  refund(request: Parameters<PaymentProvider['refund']>[0]): Promise<RefundResult> {
    return inSpan(serviceTracer('payments'), 'payment provider refund', { kind: SpanKind.CLIENT }, () => this.refundOnce(request));
  }

  private async chargeOnce({ idempotencyKey, amount, method }: Parameters<PaymentProvider['charge']>[0]): Promise<ChargeResult> {
    const card = Object.hasOwn(TEST_CARDS, method) ? TEST_CARDS[method]! : { decline: UNKNOWN_METHOD };
    const entry = await this.ledger.record({
      idempotencyKey,
      kind: 'charge',
      amount: amount.amount,
      currency: amount.currency,
      outcome: card.decline ? 'declined' : 'succeeded',
      declineCode: card.decline?.code ?? null,
      reference: card.decline ? null : reference('ch'),
    });
    if (entry.kind !== 'charge') throw new Error(`Idempotency key ${idempotencyKey} was used for a ${entry.kind}`);
    if (entry.outcome === 'succeeded') return { status: 'succeeded', reference: entry.reference! };
    const code = entry.declineCode ?? UNKNOWN_METHOD.code;
    return { status: 'declined', code, message: declineMessage(code) };
  }

  private async refundOnce({ idempotencyKey, reference: charge, amount }: Parameters<PaymentProvider['refund']>[0]): Promise<RefundResult> {
    if (!charge.startsWith('ch_test_')) throw new Error(`No test charge ${charge} to refund`);
    const entry = await this.ledger.record({
      idempotencyKey,
      kind: 'refund',
      amount: amount.amount,
      currency: amount.currency,
      outcome: 'succeeded',
      declineCode: null,
      reference: reference('re'),
    });
    if (entry.kind !== 'refund') throw new Error(`Idempotency key ${idempotencyKey} was used for a ${entry.kind}`);
    return { status: 'refunded', reference: entry.reference! };
  }
}

function declineMessage(code: string): string {
  return Object.values(TEST_CARDS).find((card) => card.decline?.code === code)?.decline?.message ?? UNKNOWN_METHOD.message;
}

const reference = (prefix: 'ch' | 're'): string => `${prefix}_test_${randomBytes(12).toString('hex')}`;

type Db = InferKyselyDB<typeof TestProviderCharge>;

/** The ledger in payments' database, written through the caller's transaction. */
export function databaseLedger(em: EntityManager): ChargeLedger {
  return {
    async record(entry) {
      const db = em.getKysely<Db>();
      const row = {
        idempotency_key: entry.idempotencyKey,
        kind: entry.kind,
        amount: entry.amount,
        currency: entry.currency,
        outcome: entry.outcome,
        decline_code: entry.declineCode,
        reference: entry.reference,
        created_at: new Date(),
      };
      // A concurrent request with the same key waits for this one's transaction, then finds its row.
      const inserted = await db.insertInto('test_provider_charge').values(row).onConflict((oc) => oc.column('idempotency_key').doNothing()).returningAll().executeTakeFirst();
      const stored = inserted ?? (await db.selectFrom('test_provider_charge').selectAll().where('idempotency_key', '=', entry.idempotencyKey).executeTakeFirstOrThrow());
      return {
        idempotencyKey: stored.idempotency_key,
        kind: stored.kind,
        amount: stored.amount,
        currency: stored.currency,
        outcome: stored.outcome,
        declineCode: stored.decline_code ?? null,
        reference: stored.reference ?? null,
      };
    },
  };
}

/**
 * The gateway of the built-in test provider. Its ledger is written through the EntityManager of
 * the transaction that changes the payment, so a rolled-back handler leaves no ledger row either.
 * A real provider cannot join the transaction; it is made safe by the idempotency key instead
 * (see PaymentProvider).
 */
export const testPaymentGateway: PaymentGateway = {
  methods: TEST_PAYMENT_METHODS,
  bind: (em) => new TestPaymentProvider(databaseLedger(em)),
};
