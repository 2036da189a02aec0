import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';

/**
 * Password hashing with scrypt (node:crypto, run on the libuv thread pool so it never blocks the
 * event loop). Hashes are self-describing, `scrypt$N$r$p$salt$hash` (base64), so the parameters
 * can be raised later and old hashes still verify (and get rehashed at the next login).
 *
 * Derivations run at once in this process: half the cores, at least one; the others wait their
 * turn. Each takes 32 MiB and tens of ms of a core, and the thread pool would run four at once: a
 * burst of sign-ins (a password guesser's first tries) then took every core of a 2-core machine
 * from the requests around it for ~0.4 s (`npm run bench:attacks`, bruteforce).
 */
const derivations = pLimit(Math.max(1, Math.floor(availableParallelism() / 2)));

/** Derivations running and waiting now (tests). */
export const passwordWork = (): { running: number; waiting: number; atOnce: number } => ({ running: derivations.activeCount, waiting: derivations.pendingCount, atOnce: derivations.concurrency });

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const CURRENT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds on parameters read back from storage, so a corrupt row cannot make one login eat the machine.
const MAX = { N: 2 ** 20, r: 32, p: 16 };

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 200;

/** Why a new password is unacceptable, or null if it is fine. */
export function passwordProblem(password: string, email?: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 2) return 'Password must mix at least two of: lower-case letters, upper-case letters, digits, other characters';
  if (new Set(password).size < 4) return 'Password must use at least 4 different characters';
  if (email && password.toLowerCase() === email.toLowerCase()) return 'Password must not be the email address';
  return null;
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; allow twice that so OpenSSL's own overhead never trips the limit.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return derivations(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        // NFKC: the same password typed on different keyboards/OSes (composed vs decomposed accents) matches.
        scrypt(password.normalize('NFKC'), salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
      }),
  );
}

export async function hashPassword(password: string, params: ScryptParams = CURRENT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  const valid =
    Number.isInteger(N) && N > 1 && N <= MAX.N && (N & (N - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= MAX.r &&
    Number.isInteger(p) && p >= 1 && p <= MAX.p &&
    salt.length >= 8 && key.length >= 16;
  return valid ? { N, r, p, salt, key } : null;
}

/** Constant-time comparison of a password against a stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

/** True when a stored hash was made with other parameters than today's. */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return !parsed || parsed.N !== CURRENT_PARAMS.N || parsed.r !== CURRENT_PARAMS.r || parsed.p !== CURRENT_PARAMS.p || parsed.key.length !== KEY_BYTES;
}

/**
 * A well-formed hash with today's parameters that no password matches in practice: verifying
 * against it costs exactly what verifying a real user's password costs, so a login for an unknown
 * email takes as long as one with a wrong password.
 */
export const UNMATCHABLE_HASH = ['scrypt', CURRENT_PARAMS.N, CURRENT_PARAMS.r, CURRENT_PARAMS.p, Buffer.alloc(SALT_BYTES).toString('base64'), Buffer.alloc(KEY_BYTES).toString('base64')].join('$');
