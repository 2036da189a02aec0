// Micro-benchmark (evidence for BENCHMARKS.md, "Router"): the cost of verifying an ES256 access
// token the way the kit does (jose jwtVerify → WebCrypto), against node:crypto's one-shot
// verify with a pre-imported KeyObject (claims then checked by hand). Distinct tokens, so no cache.
//   node bench/router/micro/jwt.ts [count]
import { createTokenVerifier } from '@shopgraph/kit';
import { createTestIssuer, TEST_AUDIENCE, TEST_ISSUER } from '@shopgraph/testkit/issuer';
import { createPublicKey, verify } from 'node:crypto';

const count = Number(process.argv[2] ?? 5000);
const issuer = await createTestIssuer(3600);
const tokens: string[] = [];
for (let i = 0; i < count; i += 500) tokens.push(...(await Promise.all(Array.from({ length: 500 }, () => issuer.customer()))));
const key = createPublicKey({ key: issuer.jwks.keys[0]!, format: 'jwk' });

async function time(label: string, fn: (token: string) => unknown): Promise<void> {
  for (const t of tokens.slice(0, 500)) await fn(t); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const t of tokens) await fn(t);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${label.padEnd(52)} ${((1000 * wall) / tokens.length).toFixed(1).padStart(6)} µs wall, ${((cpu.user + cpu.system) / tokens.length).toFixed(1).padStart(6)} µs CPU per token`);
}

// Fresh verifiers per pass so the verified-token cache never helps.
await time('kit createTokenVerifier (jose, WebCrypto), local JWKS', (t) => createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, keys: issuer.jwks, cacheSize: 0 }).verify(t));
const kit = createTokenVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ['ES256'], clockToleranceSeconds: 5, keys: issuer.jwks, cacheSize: 1 });
await time('  same, one verifier (its 1-entry cache never hits)', (t) => kit.verify(t));
await time('node:crypto verify (KeyObject, ieee-p1363) + claims', (t) => {
  const [h, p, s] = t.split('.') as [string, string, string];
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss: string; aud: string; exp: number; sub: string };
  if (!ok || claims.iss !== TEST_ISSUER || claims.aud !== TEST_AUDIENCE || claims.exp * 1000 < Date.now()) throw new Error('rejected');
  return claims.sub;
});
