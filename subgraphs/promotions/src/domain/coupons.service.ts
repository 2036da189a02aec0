import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { DomainError, InvalidInput, isUuid, type EntityManager } from '@shopgraph/kit';
import { Coupon, type CouponKind } from '../entities/index.ts';
import { usageProblem, type AppliedTerms, type Money } from './coupon-rules.ts';
import { COUPON_COLUMNS, termsOfRow, type CouponRow } from './coupon-row.ts';

export const MAX_DESCRIPTION_LENGTH = 500;
export const MAX_RESTRICTED_PRODUCTS = 100;
export const MAX_PAGE_SIZE = 50;
const CODE = /^[A-Z0-9_-]{3,32}$/;
const CURRENCY = /^[A-Z]{3}$/;
const CONTROL = /\p{Cc}/u;

/** Everything staff set on a coupon, as checked and stored. */
export interface CouponSettings {
  description: string;
  kind: CouponKind;
  percentOff: number | null;
  amountOff: Money | null;
  minimumSubtotal: Money | null;
  categoryId: string | null;
  productIds: string[];
  startsAt: Date | null;
  endsAt: Date | null;
  usageLimit: number | null;
  perCustomerLimit: number | null;
  active: boolean;
}

export interface CreateCouponInput {
  code: string;
  description: string;
  kind: CouponKind;
  percentOff?: number | null;
  amountOff?: Money | null;
  minimumSubtotal?: Money | null;
  categoryId?: string | null;
  productIds?: string[] | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
  usageLimit?: number | null;
  perCustomerLimit?: number | null;
  active: boolean;
}

/** Absent: unchanged. Null: unchanged for description, percentOff, amountOff, active; removed for the others. */
export type UpdateCouponInput = { id: string } & Partial<Omit<CreateCouponInput, 'code' | 'kind'>>;

export interface CouponPage {
  coupons: Coupon[];
  hasNextPage: boolean;
  totalCount: number;
}

const invalid = (code: string, message: string, name: string) => new DomainError(code, message, ['input', name]);
const couponNotFound = (field = 'id') => new DomainError('COUPON_NOT_FOUND', 'No such coupon', ['input', field]);
const codeTaken = () => invalid('CODE_TAKEN', 'Another coupon has this code', 'code');

/** The code as stored: trimmed and upper-case; null when it cannot be a code. */
export const normalizeCode = (code: string): string | null => {
  const normal = code.trim().toUpperCase();
  return CODE.test(normal) ? normal : null;
};

function moneyProblem(money: Money | null, name: string): DomainError | null {
  if (!money) return null;
  if (!Number.isInteger(money.amount) || money.amount < 1) return invalid('INVALID_AMOUNT', `${name} must be at least 1 minor unit`, name);
  if (!CURRENCY.test(money.currency)) return invalid('INVALID_AMOUNT', `${name}.currency must be an ISO 4217 code such as USD`, name);
  return null;
}

const limitProblem = (limit: number | null, name: string): DomainError | null =>
  limit !== null && (!Number.isInteger(limit) || limit < 1) ? invalid('INVALID_LIMIT', `${name} must be at least 1 (or none)`, name) : null;

/** What is wrong with the settings, every problem (empty when nothing is). */
export function settingsProblems(settings: CouponSettings): DomainError[] {
  const problems: (DomainError | null)[] = [];
  const description = settings.description.trim();
  if (description.length > MAX_DESCRIPTION_LENGTH || CONTROL.test(description)) {
    problems.push(invalid('INVALID_DESCRIPTION', `description must be at most ${MAX_DESCRIPTION_LENGTH} characters of plain text`, 'description'));
  }
  const { kind, percentOff, amountOff, minimumSubtotal } = settings;
  if (kind === 'PERCENTAGE' && (percentOff === null || !Number.isInteger(percentOff) || percentOff < 1 || percentOff > 100)) {
    problems.push(invalid('INVALID_PERCENT', 'A PERCENTAGE coupon needs percentOff from 1 to 100', 'percentOff'));
  }
  if (kind !== 'PERCENTAGE' && percentOff !== null) problems.push(invalid('INVALID_PERCENT', 'Only a PERCENTAGE coupon has percentOff', 'percentOff'));
  if (kind === 'FIXED_AMOUNT' && !amountOff) problems.push(invalid('INVALID_AMOUNT', 'A FIXED_AMOUNT coupon needs amountOff', 'amountOff'));
  if (kind !== 'FIXED_AMOUNT' && amountOff) problems.push(invalid('INVALID_AMOUNT', 'Only a FIXED_AMOUNT coupon has amountOff', 'amountOff'));
  problems.push(moneyProblem(amountOff, 'amountOff'), moneyProblem(minimumSubtotal, 'minimumSubtotal'));
  if (amountOff && minimumSubtotal && amountOff.currency !== minimumSubtotal.currency) {
    problems.push(invalid('INVALID_AMOUNT', 'minimumSubtotal must be in the currency of amountOff', 'minimumSubtotal'));
  }
  const { categoryId, productIds } = settings;
  if (categoryId !== null && productIds.length) problems.push(invalid('INVALID_RESTRICTION', 'Restrict a coupon to a category or to products, not both', 'productIds'));
  else if (categoryId !== null && !isUuid(categoryId)) problems.push(invalid('INVALID_RESTRICTION', 'categoryId is not a category id', 'categoryId'));
  else if (productIds.length > MAX_RESTRICTED_PRODUCTS || !productIds.every(isUuid)) {
    problems.push(invalid('INVALID_RESTRICTION', `productIds must be at most ${MAX_RESTRICTED_PRODUCTS} product ids`, 'productIds'));
  }
  if (settings.startsAt && settings.endsAt && settings.endsAt <= settings.startsAt) problems.push(invalid('INVALID_WINDOW', 'endsAt must be after startsAt', 'endsAt'));
  problems.push(limitProblem(settings.usageLimit, 'usageLimit'), limitProblem(settings.perCustomerLimit, 'perCustomerLimit'));
  return problems.filter((problem) => problem !== null);
}

/** The settings as stored (trimmed, ids in lower case); throws InvalidInput with every problem, plus `more`. */
export function checkSettings(settings: CouponSettings, more: DomainError[] = []): CouponSettings {
  const problems = [...more, ...settingsProblems(settings)];
  if (problems.length) throw new InvalidInput(problems);
  return {
    ...settings,
    description: settings.description.trim(),
    categoryId: settings.categoryId?.toLowerCase() ?? null,
    productIds: [...new Set(settings.productIds.map((id) => id.toLowerCase()))],
  };
}

/** A stored coupon's settings. */
export function settingsOf(coupon: Coupon): CouponSettings {
  const money = (amount: number | null | undefined): Money | null => (amount == null ? null : { amount, currency: coupon.currency! });
  return {
    description: coupon.description,
    kind: coupon.kind,
    percentOff: coupon.percentOff ?? null,
    amountOff: money(coupon.amountOff),
    minimumSubtotal: money(coupon.minimumSubtotal),
    categoryId: coupon.categoryId ?? null,
    productIds: [...coupon.productIds],
    startsAt: coupon.startsAt ?? null,
    endsAt: coupon.endsAt ?? null,
    usageLimit: coupon.usageLimit ?? null,
    perCustomerLimit: coupon.perCustomerLimit ?? null,
    active: coupon.active,
  };
}

/** The columns of settings (the amounts share one currency column). */
function columnsOf(settings: CouponSettings) {
  return {
    description: settings.description,
    kind: settings.kind,
    percentOff: settings.percentOff,
    amountOff: settings.amountOff?.amount ?? null,
    currency: settings.amountOff?.currency ?? settings.minimumSubtotal?.currency ?? null,
    minimumSubtotal: settings.minimumSubtotal?.amount ?? null,
    categoryId: settings.categoryId,
    productIds: settings.productIds,
    startsAt: settings.startsAt,
    endsAt: settings.endsAt,
    usageLimit: settings.usageLimit,
    perCustomerLimit: settings.perCustomerLimit,
    active: settings.active,
  };
}

/** Cursor over coupons newest first: the last one's creation time and id; opaque to clients. */
export const encodeCursor = (coupon: Pick<Coupon, 'createdAt' | 'id'>): string => Buffer.from(JSON.stringify([coupon.createdAt.toISOString(), coupon.id])).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && isUuid(value[1])) {
      const createdAt = new Date(value[0]);
      if (!Number.isNaN(createdAt.getTime())) return { createdAt, id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'after is not a cursor this API returned', ['after']);
}

/**
 * Coupons (staff) and the coupon each customer applied to their cart. Whether the applied coupon
 * takes anything off is decided with the cart's lines, by `priceCart`; its uses are taken by
 * reserveCoupon (RedemptionsService).
 */
export class CouponsService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  async createCoupon(input: CreateCouponInput): Promise<Coupon> {
    const code = normalizeCode(input.code);
    const badCode = invalid('INVALID_CODE', 'code must be 3–32 letters, digits, "_" or "-"', 'code');
    const settings = checkSettings(
      {
        description: input.description,
        kind: input.kind,
        percentOff: input.percentOff ?? null,
        amountOff: input.amountOff ?? null,
        minimumSubtotal: input.minimumSubtotal ?? null,
        categoryId: input.categoryId ?? null,
        productIds: input.productIds ?? [],
        startsAt: input.startsAt ?? null,
        endsAt: input.endsAt ?? null,
        usageLimit: input.usageLimit ?? null,
        perCustomerLimit: input.perCustomerLimit ?? null,
        active: input.active,
      },
      code ? [] : [badCode],
    );
    if (!code) throw badCode; // (checkSettings has thrown it with the others)
    const coupon = this.em.create(Coupon, { id: crypto.randomUUID(), code, ...columnsOf(settings), reservedCount: 0, redeemedCount: 0 });
    try {
      await this.em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw codeTaken();
      throw error;
    }
    return coupon;
  }

  /** Changes the given settings, under the coupon's lock (reservations of it wait, and see the change). */
  async updateCoupon(input: UpdateCouponInput): Promise<Coupon> {
    if (!isUuid(input.id)) throw couponNotFound();
    return this.em.transactional(async (em) => {
      const coupon = await em.findOne(Coupon, { id: input.id.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!coupon) throw couponNotFound();
      const settings = settingsOf(coupon);
      const given = <K extends keyof UpdateCouponInput>(key: K): boolean => key in input;
      // Settings every coupon has: null leaves them as they are.
      if (input.description != null) settings.description = input.description;
      if (input.percentOff != null) settings.percentOff = input.percentOff;
      if (input.amountOff != null) settings.amountOff = input.amountOff;
      if (input.active != null) settings.active = input.active;
      // Optional ones: null removes them.
      if (given('minimumSubtotal')) settings.minimumSubtotal = input.minimumSubtotal ?? null;
      if (given('startsAt')) settings.startsAt = input.startsAt ?? null;
      if (given('endsAt')) settings.endsAt = input.endsAt ?? null;
      if (given('usageLimit')) settings.usageLimit = input.usageLimit ?? null;
      if (given('perCustomerLimit')) settings.perCustomerLimit = input.perCustomerLimit ?? null;
      if (given('categoryId') || given('productIds')) {
        settings.categoryId = input.categoryId ?? null;
        settings.productIds = input.productIds ?? [];
      }
      em.assign(coupon, columnsOf(checkSettings(settings)));
      await em.flush();
      return coupon;
    });
  }

  /** Staff: every coupon, newest first. */
  async coupons(first: number, after: string | null | undefined): Promise<CouponPage> {
    if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${MAX_PAGE_SIZE}`, ['first']);
    const cursor = after ? decodeCursor(after) : null;
    const older = cursor ? { $or: [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $lt: cursor.id } }] } : {};
    const [rows, totalCount] = await Promise.all([
      this.em.find(Coupon, older, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: first + 1 }),
      this.em.count(Coupon),
    ]);
    return { coupons: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }

  /**
   * Applies a coupon to the customer's cart if they may use it now. One coupon per cart: another
   * code applied is refused, the same one again changes nothing (and is not checked again: the
   * cart's pricing tells of any problem).
   */
  async applyCoupon(userId: string, code: string): Promise<void> {
    const user = userId.toLowerCase();
    const normal = normalizeCode(code);
    const [row] = normal ? await this.em.execute<CouponRow[]>(`select ${COUPON_COLUMNS} from coupon c where c.code = ?`, [normal]) : [];
    if (!row) throw couponNotFound('code');
    const applied = await this.appliedCouponId(user);
    if (applied === row.id) return;
    if (applied) throw alreadyApplied();
    const problem = usageProblem(termsOfRow(row, await customerUses(this.em, row.id, user)), new Date());
    if (problem) throw problem;
    const inserted = await this.em.execute<unknown[]>(`insert into applied_coupon (user_id, coupon_id, applied_at) values (?, ?, ?) on conflict (user_id) do nothing returning user_id`, [
      user,
      row.id,
      new Date(),
    ]);
    // Another apply of the customer's got there first: fine if it was this code.
    if (!inserted.length && (await this.appliedCouponId(user)) !== row.id) throw alreadyApplied();
  }

  /** Takes the applied coupon off the customer's cart, if any. */
  async removeCoupon(userId: string): Promise<void> {
    await this.em.execute('delete from applied_coupon where user_id = ?', [userId.toLowerCase()]);
  }

  /** The coupons customers applied, with their uses, by user id (customers without one are missing). */
  async appliedCoupons(userIds: readonly string[]): Promise<Map<string, AppliedTerms>> {
    const users = [...new Set(userIds.filter(isUuid).map((id) => id.toLowerCase()))];
    if (!users.length) return new Map();
    const rows = await this.em.execute<(CouponRow & { user_id: string; customer_uses: number })[]>(
      `select a.user_id, ${COUPON_COLUMNS},
         (select count(*) from redemption r where r.coupon_id = c.id and r.user_id = a.user_id and r.status <> 'RELEASED')::int as customer_uses
       from applied_coupon a join coupon c on c.id = a.coupon_id where a.user_id in (${users.map(() => '?').join(', ')})`,
      users,
    );
    return new Map(rows.map((row) => [row.user_id, termsOfRow(row, row.customer_uses)]));
  }

  /** Products' categories from the read model, by product id (unknown products are missing). */
  async categories(productIds: readonly string[]): Promise<Map<string, string | null>> {
    return categoriesOf(this.em, productIds);
  }

  private async appliedCouponId(user: string): Promise<string | undefined> {
    const [row] = await this.em.execute<{ coupon_id: string }[]>('select coupon_id from applied_coupon where user_id = ?', [user]);
    return row?.coupon_id;
  }
}

const alreadyApplied = () => new DomainError('COUPON_ALREADY_APPLIED', 'Another coupon is applied to your cart: remove it first', ['input', 'code']);

/** The customer's uses of a coupon that count against its limits (reserved, placed or committed). */
export async function customerUses(em: EntityManager, couponId: string, user: string): Promise<number> {
  const [row] = await em.execute<{ uses: number }[]>(`select count(*)::int as uses from redemption where coupon_id = ? and user_id = ? and status <> 'RELEASED'`, [couponId, user]);
  return row?.uses ?? 0;
}

/** Products' categories from the read model, by lower-cased product id. */
export async function categoriesOf(em: EntityManager, productIds: readonly string[]): Promise<Map<string, string | null>> {
  const ids = [...new Set(productIds.filter(isUuid).map((id) => id.toLowerCase()))];
  if (!ids.length) return new Map();
  const rows = await em.execute<{ product_id: string; category_id: string | null }[]>(
    `select product_id, category_id from product_category where product_id in (${ids.map(() => '?').join(', ')})`,
    ids,
  );
  return new Map(rows.map((row) => [row.product_id, row.category_id]));
}
