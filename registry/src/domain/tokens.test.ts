import { describe, expect, it } from 'vitest';
import { parseRegistryTokens, registryTokenVerifier } from './tokens.ts';

describe('registry tokens', () => {
  const tokens = parseRegistryTokens('ci:check+publish:s3cret-ci, router:router+usage:r0uter');

  it('parses name:scope+scope:secret and keeps only the secrets\' hashes', () => {
    expect(tokens.map(({ name, scopes }) => ({ name, scopes }))).toEqual([{ name: 'ci', scopes: ['check', 'publish'] }, { name: 'router', scopes: ['router', 'usage'] }]);
    expect(JSON.stringify(tokens)).not.toContain('s3cret-ci');
  });

  it('verifies a known secret to its name and scopes, and refuses others as UNAUTHENTICATED', async () => {
    const verifier = registryTokenVerifier(tokens);
    const identity = await verifier.verify('r0uter');
    expect([identity.userId, [...identity.scopes]]).toEqual(['router', ['router', 'usage']]);
    await expect(verifier.verify('r0uter-not')).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });

  it.each([
    ['ci:check', /expected name:scope\+scope:secret/],
    ['ci:deploy:x', /unknown scope deploy/],
    ['ci:check:se cret', /letters, digits/],
    ['ci:check:a,ci:publish:b', /ci is used twice/],
  ])('refuses %s', (value, message) => {
    expect(() => parseRegistryTokens(value)).toThrow(message);
  });
});
