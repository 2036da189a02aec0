import { randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Derivation } from './scrypt.worker.ts';

/**
 * Password hashing with scrypt. Hashes are self-describing, `scrypt$N$r$p$salt$hash` (base64), so
 * the parameters can be raised later and old hashes still verify (and get rehashed at the next login).
 *
 * Derivations run on worker threads of their own (piscina), never the event loop: half the cores'
 * worth at once, at least one, the others queued; and at a lower CPU priority than the rest of the
 * machine. Each takes 32 MiB and tens of ms of a core: at equal priority, a password guesser's
 * first tries (real derivations until the throttle refuses without hashing) took every core of a
 * 2-core machine from the requests around them (`npm run bench:attacks`, bruteforce). A sign-in
 * under load waits longer instead; a guesser slows nobody else.
 */
const AT_ONCE = Math.max(1, Math.floor(availableParallelism() / 2));
/** Added to the threads' nice value (Linux: 0 → 10, about a tenth of a normal thread's share of a busy core). */
export const DERIVATION_NICENESS = 10;

const derivations = new Piscina<Derivation, Uint8Array>({
  filename: new URL('./scrypt.worker.ts', import.meta.url).href,
  minThreads: AT_ONCE,
  maxThreads: AT_ONCE,
  concurrentTasksPerWorker: 1,
  niceIncrement: DERIVATION_NICENESS,
});

/** Derivations waiting for a thread now, and how many run at once (tests). */
export const passwordWork = (): { waiting: number; atOnce: number } => ({ waiting: derivations.queueSize, atOnce: AT_ONCE });

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

async function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; allow twice that so OpenSSL's own overhead never trips the limit.
  const options = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  // NFKC: the same password typed on different keyboards/OSes (composed vs decomposed accents) matches.
  const key = await derivations.run({ password: password.normalize('NFKC'), salt, length, options });
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
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
