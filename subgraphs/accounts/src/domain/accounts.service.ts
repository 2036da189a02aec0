import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { advisoryLock, DomainError, isUuid, recordEvent, Scope, type EntityManager, type Logger, type TokenIssuer } from '@shopgraph/kit';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { RefreshToken } from '../entities/refresh-token.entity.ts';
import { User } from '../entities/user.entity.ts';

import { hashPassword, needsRehash, passwordProblem, UNMATCHABLE_HASH, verifyPassword } from './passwords.ts';

export interface SessionSettings {
  /** Signs access tokens with the current signing key. */
  issuer: TokenIssuer;
  refreshTokenTtlSeconds: number;
  logger: Logger;
  /** Called before each password is hashed or checked (a test seam). */
  onPasswordWork?: (() => void) | undefined;
}

/** What a successful register, login or refresh hands the client. */
export interface Session {
  accessToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  refreshToken: string;
  user: User;
}

export interface StaffAccount {
  email: string;
  password: string;
  name: string;
}

const EMAIL_MAX_LENGTH = 254;
const NAME_MAX_LENGTH = 100;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const EMAIL = new RegExp(`^[a-z0-9.!#$%&'*+/=?^_\`{|}~-]{1,64}@${LABEL}(?:\\.${LABEL})+$`);

export const normaliseEmail = (raw: string): string => raw.trim().toLowerCase();
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

const invalidCredentials = () => new DomainError('INVALID_CREDENTIALS', 'Email or password is incorrect');
const invalidRefreshToken = () => new DomainError('INVALID_REFRESH_TOKEN', 'Refresh token is invalid, expired or already used', ['input', 'refreshToken']);
const emailTaken = () => new DomainError('EMAIL_TAKEN', 'An account with this email exists', ['input', 'email']);

/** Records that a user now exists, in the transaction that creates it (the outbox publishes it after commit). */
function recordRegistered(em: EntityManager, user: User): void {
  recordEvent(em, 'account.user.registered', user.id, { userId: user.id, email: user.email, name: user.name });
}

function validEmail(raw: string): string {
  const email = normaliseEmail(raw);
  if (email.length > EMAIL_MAX_LENGTH || !EMAIL.test(email)) throw new DomainError('INVALID_EMAIL', 'Email address is not valid', ['input', 'email']);
  return email;
}

function validName(raw: string): string {
  const name = raw.trim();
  if (!name || [...name].length > NAME_MAX_LENGTH || /\p{Cc}/u.test(name)) {
    throw new DomainError('INVALID_NAME', `Name must be 1-${NAME_MAX_LENGTH} characters without control characters`, ['input', 'name']);
  }
  return name;
}

function validPassword(password: string, email: string): string {
  const problem = passwordProblem(password, email);
  if (problem) throw new DomainError('WEAK_PASSWORD', problem, ['input', 'password']);
  return password;
}

/**
 * Business rules of accounts: registration, credentials and sessions (access token + rotating
 * refresh token). The only code that changes users and refresh tokens.
 */
export class AccountsService {
  private readonly em: EntityManager;
  private readonly settings: SessionSettings;

  constructor(em: EntityManager, settings: SessionSettings) {
    this.em = em;
    this.settings = settings;
  }

  findUsers(ids: readonly string[]): Promise<User[]> {
    const valid = ids.filter(isUuid);
    return valid.length ? this.em.find(User, { id: { $in: valid } }) : Promise.resolve([]);
  }

  async register(input: { email: string; password: string; name: string }): Promise<Session> {
    const email = validEmail(input.email);
    const name = validName(input.name);
    const password = validPassword(input.password, email);
    // A friendly early answer; the unique constraint below is what holds under concurrency.
    if (await this.em.count(User, { email })) throw emailTaken();
    this.settings.onPasswordWork?.();
    const passwordHash = await hashPassword(password);
    let registered: { user: User; refreshToken: string };
    try {
      // The user, its first refresh token and account.user.registered commit together, or none of them.
      registered = await this.em.transactional(async (em) => {
        const user = em.create(User, { id: randomUUID(), email, name, passwordHash, scopes: [Scope.CUSTOMER] });
        const refreshToken = this.addRefreshToken(user, randomUUID(), em);
        recordRegistered(em, user);
        return { user, refreshToken };
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException && (error as { constraint?: string }).constraint === 'user_email_unique') throw emailTaken();
      throw error;
    }
    return this.session(registered.user, registered.refreshToken);
  }

  async login(input: { email: string; password: string }): Promise<Session> {
    const email = normaliseEmail(input.email);
    const user = email.length <= EMAIL_MAX_LENGTH ? await this.em.findOne(User, { email }) : null;
    // Unknown emails still cost one hash computation, so timing does not reveal which emails exist.
    this.settings.onPasswordWork?.();
    const matches = await verifyPassword(input.password, user?.passwordHash ?? UNMATCHABLE_HASH);
    if (!user || !matches) throw invalidCredentials();
    if (needsRehash(user.passwordHash)) user.passwordHash = await hashPassword(input.password);
    const refreshToken = this.addRefreshToken(user, randomUUID());
    await this.em.flush();
    return this.session(user, refreshToken);
  }

  /**
   * Rotates a refresh token: the presented one is spent and a new one of the same family issued.
   * The row lock makes concurrent uses of one token queue up, so exactly one of them succeeds; a
   * spent token presented again means it leaked, and the whole family is revoked.
   */
  async refresh(input: { refreshToken: string }): Promise<Session> {
    const tokenHash = sha256(input.refreshToken);
    const outcome = await this.em.transactional(async (em) => {
      const current = await em.findOne(RefreshToken, { tokenHash }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!current || current.revokedAt) return null;
      const now = new Date();
      if (current.usedAt) {
        await em.nativeUpdate(RefreshToken, { familyId: current.familyId, revokedAt: null }, { revokedAt: now });
        this.settings.logger.warn({ userId: current.user.id, familyId: current.familyId }, 'spent refresh token presented again: session revoked');
        return null;
      }
      if (current.expiresAt <= now) return null;
      current.usedAt = now;
      const user = await em.findOneOrFail(User, { id: current.user.id });
      return { user, refreshToken: this.addRefreshToken(user, current.familyId, em) };
    });
    if (!outcome) throw invalidRefreshToken();
    return this.session(outcome.user, outcome.refreshToken);
  }

  /** Ends the session the refresh token belongs to (its whole family). Idempotent for known tokens. */
  async logout(input: { refreshToken: string }): Promise<void> {
    const current = await this.em.findOne(RefreshToken, { tokenHash: sha256(input.refreshToken) });
    if (!current) throw invalidRefreshToken();
    await this.em.nativeUpdate(RefreshToken, { familyId: current.familyId, revokedAt: null }, { revokedAt: new Date() });
  }

  /**
   * Makes sure the configured staff account exists with the staff scope and the configured
   * password. Safe to run on every start of every replica. If the email already belonged to an
   * account with another password, the password is reset and that account's sessions revoked, so
   * whoever registered it first cannot keep a session that turns into a staff one.
   */
  async ensureStaff(account: StaffAccount): Promise<'created' | 'updated' | 'unchanged'> {
    const email = validEmail(account.email);
    const name = validName(account.name);
    const password = validPassword(account.password, email);
    return this.em.transactional(async (em) => {
      await advisoryLock(em, 'accounts.staff');
      const existing = await em.findOne(User, { email });
      if (!existing) {
        recordRegistered(em, em.create(User, { id: randomUUID(), email, name, passwordHash: await hashPassword(password), scopes: [Scope.CUSTOMER, Scope.STAFF] }));
        return 'created';
      }
      let changed = false;
      if (!existing.scopes.includes(Scope.STAFF) || !existing.scopes.includes(Scope.CUSTOMER)) {
        existing.scopes = [...new Set([...existing.scopes, Scope.CUSTOMER, Scope.STAFF])];
        changed = true;
      }
      if (!(await verifyPassword(password, existing.passwordHash))) {
        existing.passwordHash = await hashPassword(password);
        await em.nativeUpdate(RefreshToken, { user: existing.id, revokedAt: null }, { revokedAt: new Date() });
        changed = true;
      } else if (needsRehash(existing.passwordHash)) {
        existing.passwordHash = await hashPassword(password);
      }
      return changed ? 'updated' : 'unchanged';
    });
  }

  /** Adds a refresh token to the unit of work (persisted with the next flush) and returns its only plain copy. */
  private addRefreshToken(user: User, familyId: string, em: EntityManager = this.em): string {
    const token = randomBytes(32).toString('base64url');
    em.create(RefreshToken, {
      id: randomUUID(),
      user,
      tokenHash: sha256(token),
      familyId,
      expiresAt: new Date(Date.now() + this.settings.refreshTokenTtlSeconds * 1000),
    });
    return token;
  }

  private async session(user: User, refreshToken: string): Promise<Session> {
    const { token, expiresAt } = await this.settings.issuer.sign(user.id, user.scopes);
    return { accessToken: token, expiresIn: Math.max(0, expiresAt - Math.floor(Date.now() / 1000)), refreshToken, user };
  }
}
