import { DomainError, isUuid, type EntityManager } from '@shopgraph/kit';
import { FraudRule, type FraudRuleKind } from '../entities/fraud-rule.entity.ts';
import { ScreeningDecision, type FiredRule, type ScreeningDecisionValue } from '../entities/screening-decision.entity.ts';
import type { Money } from './payment-provider.ts';
import type { SagaPayment } from './payment.service.ts';

export const MAX_RULE_NAME = 100;
export const MAX_ORDERS_LIMIT = 10_000;
/** Velocity windows reach back at most 30 days. */
export const MAX_WINDOW_SECONDS = 30 * 24 * 3600;
export const MAX_REASON_LENGTH = 500;
export const MAX_PAGE_SIZE = 100;

// Control characters other than line breaks and tabs have no place in names or reasons.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The thresholds a rule may carry; which ones it must carry depends on its kind. */
export interface RuleThresholds {
  maxOrders?: number | null;
  windowSeconds?: number | null;
  amount?: Money | null;
  countries?: readonly string[] | null;
}

export interface CreateFraudRuleInput extends RuleThresholds {
  name: string;
  kind: FraudRuleKind;
  enabled?: boolean | null;
}

/** Only the fields given change (null or absent: unchanged); the kind of a rule never changes. */
export interface UpdateFraudRuleInput extends RuleThresholds {
  ruleId: string;
  name?: string | null;
  enabled?: boolean | null;
}

/** A rule's checked fields, as stored: the thresholds of other kinds are null. */
export interface RuleFields {
  name: string;
  maxOrders: number | null;
  windowSeconds: number | null;
  amount: number | null;
  currency: string | null;
  countries: string[] | null;
}

const ALL_THRESHOLDS: (keyof RuleThresholds)[] = ['maxOrders', 'windowSeconds', 'amount', 'countries'];
const THRESHOLDS_OF: Record<FraudRuleKind, (keyof RuleThresholds)[]> = {
  CUSTOMER_VELOCITY: ['maxOrders', 'windowSeconds'],
  CARD_VELOCITY: ['maxOrders', 'windowSeconds'],
  AMOUNT_OVER: ['amount'],
  SHIPPING_COUNTRY: ['countries'],
};

const regions = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
/** Two-letter regions ICU names that are not countries or territories: unknown, Outlying Oceania, EU, Eurozone, UN. */
const NOT_COUNTRIES = new Set(['ZZ', 'QO', 'EU', 'EZ', 'UN']);
/** An ISO 3166 alpha-2 code of a country or territory (ICU knows them), in any case. */
const isCountry = (code: string): boolean => /^[A-Za-z]{2}$/.test(code) && !NOT_COUNTRIES.has(code.toUpperCase()) && regions.of(code.toUpperCase()) !== undefined;

const inputField = (name: string, ...rest: string[]): string[] => ['input', name, ...rest];

/** Checks a rule's name and the thresholds of its kind; throws the first problem as a DomainError. */
export function validRule(kind: FraudRuleKind, name: string, thresholds: RuleThresholds): RuleFields {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > MAX_RULE_NAME || CONTROL.test(trimmed)) {
    throw new DomainError('INVALID_NAME', `name must be 1–${MAX_RULE_NAME} characters of text`, inputField('name'));
  }
  const wanted = THRESHOLDS_OF[kind];
  if (!wanted) throw new DomainError('INVALID_RULE', `unknown rule kind ${String(kind)}`, inputField('kind'));
  for (const key of ALL_THRESHOLDS) {
    if (thresholds[key] != null && !wanted.includes(key)) throw new DomainError('INVALID_RULE', `${kind} rules take no ${key}`, inputField(key));
  }
  const fields: RuleFields = { name: trimmed, maxOrders: null, windowSeconds: null, amount: null, currency: null, countries: null };
  switch (kind) {
    case 'CUSTOMER_VELOCITY':
    case 'CARD_VELOCITY': {
      const { maxOrders, windowSeconds } = thresholds;
      if (maxOrders == null || !Number.isInteger(maxOrders) || maxOrders < 1 || maxOrders > MAX_ORDERS_LIMIT) {
        throw new DomainError('INVALID_THRESHOLD', `maxOrders must be 1–${MAX_ORDERS_LIMIT}`, inputField('maxOrders'));
      }
      if (windowSeconds == null || !Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) {
        throw new DomainError('INVALID_WINDOW', `windowSeconds must be 1–${MAX_WINDOW_SECONDS} (30 days)`, inputField('windowSeconds'));
      }
      return { ...fields, maxOrders, windowSeconds };
    }
    case 'AMOUNT_OVER': {
      const { amount } = thresholds;
      if (amount == null || !Number.isInteger(amount.amount) || amount.amount < 0) {
        throw new DomainError('INVALID_THRESHOLD', 'amount must be zero or more minor units', inputField('amount', 'amount'));
      }
      if (!/^[A-Z]{3}$/.test(amount.currency)) throw new DomainError('INVALID_CURRENCY', 'currency must be an ISO 4217 code, e.g. USD', inputField('amount', 'currency'));
      return { ...fields, amount: amount.amount, currency: amount.currency };
    }
    case 'SHIPPING_COUNTRY': {
      const countries = thresholds.countries ?? [];
      const bad = countries.findIndex((code) => !isCountry(code));
      if (!countries.length || countries.length > 250 || bad >= 0) {
        throw new DomainError('INVALID_COUNTRY', 'countries must be 1–250 ISO 3166 alpha-2 codes, e.g. DE', bad >= 0 ? inputField('countries', String(bad)) : inputField('countries'));
      }
      return { ...fields, countries: [...new Set(countries.map((code) => code.toUpperCase()))] };
    }
  }
}

/** What the amount and country rules look at: the order as payments knows it. */
export interface ScreenedOrder {
  amount: Money;
  shippingCountry: string | null;
}

/** Whether an AMOUNT_OVER or SHIPPING_COUNTRY rule fires on an order (an amount in another currency is not compared). */
export function firesOn(rule: Pick<FraudRule, 'kind' | 'amount' | 'currency' | 'countries'>, order: ScreenedOrder): boolean {
  if (rule.kind === 'AMOUNT_OVER') return rule.currency === order.amount.currency && order.amount.amount > rule.amount!;
  if (rule.kind === 'SHIPPING_COUNTRY') return order.shippingCountry !== null && (rule.countries ?? []).includes(order.shippingCountry);
  return false;
}

/** A velocity rule fires when the intents already made within its window leave no room for this one. */
export const velocityExceeded = (rule: Pick<FraudRule, 'maxOrders'>, earlierIntents: number): boolean => earlierIntents >= rule.maxOrders!;

export interface ReviewPage {
  decisions: ScreeningDecision[];
  hasNextPage: boolean;
  totalCount: number;
}

/** Cursor over the held orders, oldest first (screened_at, order id); opaque to clients. */
export function encodeCursor(decision: Pick<ScreeningDecision, 'screenedAt' | 'orderId'>): string {
  return Buffer.from(JSON.stringify([decision.screenedAt.toISOString(), decision.orderId])).toString('base64url');
}

export function decodeCursor(cursor: string): { screenedAt: Date; orderId: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && isUuid(value[1])) {
      const screenedAt = new Date(value[0]);
      if (!Number.isNaN(screenedAt.getTime())) return { screenedAt, orderId: value[1] };
    }
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'Cursor is not one this API returned', ['after']);
}

/** A staff reason (a rejection's): trimmed, 1–500 characters of text. */
export function validReason(reason: string): string {
  const why = reason.trim();
  if (!why || why.length > MAX_REASON_LENGTH || CONTROL.test(why)) throw new DomainError('INVALID_REASON', `reason must be 1–${MAX_REASON_LENGTH} characters of text`, inputField('reason'));
  return why;
}

const ruleNotFound = () => new DomainError('RULE_NOT_FOUND', 'No fraud rule has this id', inputField('ruleId'));

/** What screening reads of a payment about to be charged. */
export type ScreenedPayment = Pick<SagaPayment, 'orderId' | 'shippingCountry'> & { userId: string; method: string; amount: number; currency: string };

type EnabledRule = Pick<FraudRule, 'id' | 'name' | 'kind' | 'maxOrders' | 'windowSeconds' | 'amount' | 'currency' | 'countries'>;

const ENABLED_RULES = `select id, name, kind, max_orders as "maxOrders", window_seconds as "windowSeconds", amount, currency, countries
  from fraud_rule where enabled order by created_at, id`;

/**
 * Fraud screening: the staff's rules, the screening of a payment right before its charge, and the
 * decisions on held orders. Payments' service calls it inside its own transaction (the saga's or
 * a staff mutation's), so a hold and its event commit together.
 */
export class ScreeningService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** Every rule, oldest first. */
  rules(): Promise<FraudRule[]> {
    return this.em.find(FraudRule, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  async createRule(input: CreateFraudRuleInput): Promise<FraudRule> {
    const fields = validRule(input.kind, input.name, input);
    const rule = this.em.create(FraudRule, { id: crypto.randomUUID(), kind: input.kind, enabled: input.enabled ?? true, ...fields });
    await this.em.flush();
    return rule;
  }

  async updateRule(input: UpdateFraudRuleInput): Promise<FraudRule> {
    if (!isUuid(input.ruleId)) throw ruleNotFound();
    const rule = await this.em.findOne(FraudRule, { id: input.ruleId.toLowerCase() }, { refresh: true });
    if (!rule) throw ruleNotFound();
    const current: RuleThresholds = {
      maxOrders: rule.maxOrders,
      windowSeconds: rule.windowSeconds,
      amount: rule.amount == null ? null : { amount: rule.amount, currency: rule.currency! },
      countries: rule.countries,
    };
    const given = Object.fromEntries(ALL_THRESHOLDS.filter((key) => input[key] != null).map((key) => [key, input[key]]));
    Object.assign(rule, validRule(rule.kind, input.name ?? rule.name, { ...current, ...given }));
    if (input.enabled != null) rule.enabled = input.enabled;
    await this.em.flush();
    return rule;
  }

  /**
   * The enabled rules that fire on a payment about to be charged. Velocity rules count the other
   * payment intents of the same customer / payment method created within the window, on the
   * indexed (user_id, created_at) and (method, created_at), stopping as soon as the limit is passed.
   * Every charge reads the rules, so in one statement without entities.
   */
  async screen(payment: ScreenedPayment): Promise<FiredRule[]> {
    const rules = await this.em.execute<EnabledRule[]>(ENABLED_RULES);
    const order: ScreenedOrder = { amount: { amount: payment.amount, currency: payment.currency }, shippingCountry: payment.shippingCountry ?? null };
    const fired: FiredRule[] = [];
    for (const rule of rules) {
      const fires =
        rule.kind === 'CUSTOMER_VELOCITY' ? velocityExceeded(rule, await this.intentsWithin('user_id', payment.userId, payment.orderId, rule))
        : rule.kind === 'CARD_VELOCITY' ? velocityExceeded(rule, await this.intentsWithin('method', payment.method, payment.orderId, rule))
        : firesOn(rule, order);
      if (fires) fired.push({ ruleId: rule.id, name: rule.name, kind: rule.kind });
    }
    return fired;
  }

  /** Records that screening held an order for review. */
  hold(payment: Pick<SagaPayment, 'id' | 'orderId'>, rules: FiredRule[]): ScreeningDecision {
    return this.em.create(ScreeningDecision, { orderId: payment.orderId, paymentId: payment.id, decision: 'REVIEW', rules, screenedAt: new Date(), decidedAt: null, reviewerId: null, reason: null });
  }

  /** Closes a held order's review: staff's decision, or CANCELLED (no reviewer) when the order was cancelled while held. */
  async decide(orderId: string, decision: Exclude<ScreeningDecisionValue, 'REVIEW'>, reviewerId: string | null, reason: string | null = null): Promise<void> {
    const held = await this.em.findOne(ScreeningDecision, { orderId, decision: 'REVIEW' }, { refresh: true });
    if (held) Object.assign(held, { decision, reviewerId, reason, decidedAt: new Date() });
  }

  /** The screening decisions of orders, by order id (orders no rule fired on are missing). */
  async forOrders(orderIds: readonly string[]): Promise<Map<string, ScreeningDecision>> {
    const valid = [...new Set(orderIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const rows = valid.length ? await this.em.find(ScreeningDecision, { orderId: { $in: valid } }) : [];
    return new Map(rows.map((decision) => [decision.orderId, decision]));
  }

  /** The orders held for review, oldest first, `first` at a time after a cursor. */
  async inReview(first: number, after: string | null | undefined): Promise<ReviewPage> {
    if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${MAX_PAGE_SIZE}`, ['first']);
    const held = { decision: 'REVIEW' as const };
    const page = after
      ? (() => {
          const { screenedAt, orderId } = decodeCursor(after);
          return { $or: [{ screenedAt: { $gt: screenedAt } }, { screenedAt, orderId: { $gt: orderId } }] };
        })()
      : {};
    const [rows, totalCount] = await Promise.all([
      this.em.find(ScreeningDecision, { ...held, ...page }, { orderBy: { screenedAt: 'asc', orderId: 'asc' }, limit: first + 1 }),
      this.em.count(ScreeningDecision, held),
    ]);
    return { decisions: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }

  private async intentsWithin(column: 'user_id' | 'method', value: string, orderId: string, rule: EnabledRule): Promise<number> {
    const since = new Date(Date.now() - rule.windowSeconds! * 1000);
    const [row] = await this.em.execute<{ count: string }[]>(
      `select count(*) as count from (select 1 from payment where ${column} = ? and created_at > ? and order_id <> ? limit ?) as recent`,
      [value, since, orderId, rule.maxOrders],
    );
    return Number(row?.count ?? 0);
  }
}
