import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, graphqlError, type Identity, type TokenVerifier } from '@shopgraph/kit';

/** What a registry token lets its holder do. */
export const SCOPES = ['check', 'publish', 'usage', 'router'] as const;
export type RegistryScope = (typeof SCOPES)[number];

export interface RegistryToken {
  name: string;
  scopes: RegistryScope[];
  /** sha256 of the secret: the secret itself is not kept. */
  hash: Buffer;
}

const digest = (secret: string): Buffer => createHash('sha256').update(secret).digest();
/** What a bearer token may contain (the kit refuses anything else before it gets here). */
const SECRET = /^[A-Za-z0-9_\-.]+$/;

/** Parses `name:scope+scope:secret,…` (REGISTRY_TOKENS); throws naming the entry that is wrong. */
export function parseRegistryTokens(value: string): RegistryToken[] {
  const tokens = value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry, index) => {
    const [name, scopes, secret, ...rest] = entry.split(':');
    const where = `token ${index + 1}${name ? ` (${name})` : ''}`;
    if (!name || !scopes || !secret || rest.length) throw new Error(`${where}: expected name:scope+scope:secret`);
    if (!SECRET.test(secret)) throw new Error(`${where}: the secret may hold letters, digits, "_", "-" and "." only`);
    const parsed = scopes.split('+');
    const unknown = parsed.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
    if (unknown.length) throw new Error(`${where}: unknown scope ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`);
    return { name, scopes: parsed as RegistryScope[], hash: digest(secret) };
  });
  const names = tokens.map((t) => t.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) throw new Error(`token name ${repeated} is used twice`);
  return tokens;
}

/**
 * Verifies registry tokens: the presented secret's hash is compared with every configured hash in
 * constant time (all of them, whatever matches), so timing tells nothing about the secrets.
 */
export function registryTokenVerifier(tokens: readonly RegistryToken[]): TokenVerifier {
  return {
    async verify(secret): Promise<Identity> {
      const presented = digest(secret);
      let found: RegistryToken | undefined;
      for (const token of tokens) if (timingSafeEqual(token.hash, presented)) found ??= token;
      if (!found) throw graphqlError(ErrorCode.UNAUTHENTICATED, 'Unknown registry token');
      return { userId: found.name, scopes: new Set(found.scopes), expiresAt: Number.MAX_SAFE_INTEGER };
    },
  };
}
