import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwksCache, jwtVerify, SignJWT, type ExportedJWKSCache, type JSONWebKeySet, type JWK, type JWKSCacheInput, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { ErrorCode, graphqlError } from './errors.ts';

/** Who is calling: the verified subject of an access token and its scopes. */
export interface Identity {
  readonly userId: string;
  readonly scopes: ReadonlySet<string>;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export const Scope = { CUSTOMER: 'customer', STAFF: 'staff' } as const;

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  clockToleranceSeconds: number;
  /** Where the issuer's public keys come from: its JWKS URL, a key set, or a key resolver. */
  keys: URL | JSONWebKeySet | JWTVerifyGetKey;
  /** Verified tokens remembered, so a client repeating its token costs a map lookup, not a signature check. */
  cacheSize?: number;
  /** How a JWKS URL is fetched and cached (see `RemoteKeysOptions`); ignored for other `keys`. */
  remote?: RemoteKeysOptions;
}

export interface RemoteKeysOptions {
  /** A fetch of the key set that takes longer fails (default 3000 ms): an unknown key fails within this. */
  timeoutMs?: number;
  /** After a fetch, an unknown `kid` is refused without fetching again for this long (default 30 s). */
  cooldownMs?: number;
  /** The key set is fetched again once it is this old (default 5 min, the `max-age` the issuer serves): how long a removed key is still accepted. */
  maxAgeMs?: number;
  /**
   * While the key set cannot be fetched, the keys fetched last keep verifying for this long after
   * that fetch (default 1 h): the issuer's outage does not sign everybody out. Unknown keys are refused.
   */
  staleTtlMs?: number;
}

export interface TokenVerifier {
  /** Resolves the identity in a token, or rejects with an UNAUTHENTICATED GraphQL error. */
  verify(token: string): Promise<Identity>;
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { keys } = options;
  const getKey: JWTVerifyGetKey =
    keys instanceof URL ? createRemoteKeys(keys, options.remote)
    : typeof keys === 'function' ? keys
    : createLocalJWKSet(keys);
  const cacheSize = options.cacheSize ?? 10_000;
  // Verified identities by token, least recently used out first; an expired one is refused and dropped when next seen.
  const cache = new LRUCache<string, Identity>({ max: cacheSize });

  return {
    async verify(token) {
      const now = Date.now() / 1000;
      const cached = cache.get(token);
      if (cached) {
        if (cached.expiresAt + options.clockToleranceSeconds > now) return cached;
        cache.delete(token);
        throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Access token expired');
      }
      let identity: Identity;
      try {
        const { payload } = await jwtVerify(token, getKey, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: options.algorithms,
          clockTolerance: options.clockToleranceSeconds,
          requiredClaims: ['sub', 'exp', 'iat'],
        });
        identity = {
          userId: payload.sub!,
          scopes: new Set(typeof payload['scope'] === 'string' ? payload['scope'].split(' ').filter(Boolean) : []),
          expiresAt: payload.exp!,
        };
      } catch (error) {
        throw graphqlError(ErrorCode.UNAUTHENTICATED, `Invalid access token: ${describe(error)}`);
      }
      // Not-yet-valid tokens are never cached (nbf), so a cached identity only needs its expiry re-checked.
      cache.set(token, identity);
      return identity;
    },
  };
}

/**
 * The issuer's keys from its JWKS URL (jose's remote key set), kept usable while the URL cannot
 * be fetched: the keys of the last good fetch still verify until `staleTtlMs` after it. During an
 * outage the URL is retried at most once per cooldown, so a request does not wait on a dead
 * server when the key it needs is already known; an unknown `kid` fails at once or after one
 * fetch attempt (`timeoutMs`).
 */
export function createRemoteKeys(url: URL, options: RemoteKeysOptions = {}): JWTVerifyGetKey {
  const { timeoutMs = 3000, cooldownMs = 30_000, maxAgeMs = 300_000, staleTtlMs = 3_600_000 } = options;
  // jose records every good fetch here: when (uat) and what (jwks).
  const lastGood: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(url, { timeoutDuration: timeoutMs, cooldownDuration: cooldownMs, cacheMaxAge: maxAgeMs, [jwksCache]: lastGood as JWKSCacheInput });
  let stale: { uat: number; keys: JWTVerifyGetKey } | undefined;
  let failedAt = -Infinity;
  const staleKeys = (): JWTVerifyGetKey | undefined => {
    if (lastGood.uat === undefined || !lastGood.jwks || Date.now() - lastGood.uat > staleTtlMs) return undefined;
    if (stale?.uat !== lastGood.uat) stale = { uat: lastGood.uat, keys: createLocalJWKSet(lastGood.jwks) };
    return stale.keys;
  };
  return async (header, token) => {
    const fallback = Date.now() - failedAt < cooldownMs ? staleKeys() : undefined;
    if (fallback) return fallback(header, token);
    try {
      return await remote(header, token);
    } catch (error) {
      // A key the set lacks (or a malformed one) is the token's fault, not the issuer's: no fallback.
      if (!isFetchFailure(error)) throw error;
      failedAt = Date.now();
      const keys = staleKeys();
      if (!keys) throw error;
      return keys(header, token);
    }
  };
}

/** The key set could not be had: the issuer is down, slow, or answered something else than a key set. */
function isFetchFailure(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  if (error instanceof joseErrors.JOSEError) return error.code === 'ERR_JOSE_GENERIC';
  // fetch() itself: connection refused or reset, DNS.
  return error instanceof TypeError;
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" ${error.reason === 'check_failed' ? 'rejected' : error.reason}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'unknown signing key';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'malformed';
  if (isFetchFailure(error)) return 'issuer keys unavailable';
  return 'rejected';
}

/**
 * The identity carried by an `Authorization` header: none means anonymous (null);
 * anything other than a valid bearer token is an UNAUTHENTICATED error.
 */
export async function identityFromAuthorization(verifier: TokenVerifier, header: string | undefined | null): Promise<Identity | null> {
  if (!header) return null;
  const token = bearerToken(header);
  if (!token) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Authorization header must be "Bearer <token>"');
  return verifier.verify(token);
}

/** The token of a well-formed `Authorization: Bearer <token>` header, else null (nothing is verified here). */
export function bearerToken(header: string | undefined | null): string | null {
  return (header && /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header)?.[1]) || null;
}

/** The verifier a service builds from its JWT_* settings. */
export function verifierFromConfig(config: {
  JWT_ISSUER: string;
  JWT_JWKS_URL?: string | undefined;
  JWT_AUDIENCE: string;
  JWT_ALGORITHMS: string[];
  JWT_CLOCK_TOLERANCE_S: number;
  JWT_JWKS_STALE_TTL_S?: number;
}): TokenVerifier {
  return createTokenVerifier({
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    algorithms: config.JWT_ALGORITHMS,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_S,
    keys: new URL(config.JWT_JWKS_URL ?? new URL('/.well-known/jwks.json', config.JWT_ISSUER).href),
    remote: { staleTtlMs: (config.JWT_JWKS_STALE_TTL_S ?? 3600) * 1000 },
  });
}

export interface TokenIssuerOptions {
  issuer: string;
  audience: string;
  /** A private JWK with `kid` and `alg`; its public half is what the issuer's JWKS serves. */
  privateKey: JWK;
  ttlSeconds: number;
}

export interface TokenIssuer {
  /** Signs an access token for a user with the given scopes. */
  sign(userId: string, scopes: readonly string[]): Promise<{ token: string; expiresAt: number }>;
}

export async function createTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  const { kid, alg } = options.privateKey;
  if (!kid || !alg) throw new Error('Signing key needs "kid" and "alg"');
  const key = await importJWK(options.privateKey, alg);
  return {
    async sign(userId, scopes) {
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = now + options.ttlSeconds;
      const token = await new SignJWT({ scope: scopes.join(' ') })
        .setProtectedHeader({ alg, kid, typ: 'JWT' })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(userId)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(expiresAt)
        .setJti(randomUUID())
        .sign(key);
      return { token, expiresAt };
    },
  };
}

/** A fresh signing key pair; `publicJwk` is what goes into a JWKS. */
export async function generateSigningKey(alg = 'ES256'): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateJwk, publicJwk };
}
