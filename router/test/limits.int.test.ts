import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolverCalls, startWorld, type World } from './harness.ts';

let world: World;
/** Default limits: the token cap stops most hostile documents while parsing. */
let strict: string;
/** A huge token cap and document size, so the depth, alias and cost rules are what stop them. */
let lenient: string;

beforeAll(async () => {
  world = await startWorld();
  strict = (await world.router()).url;
  lenient = (await world.router({ LIMIT_MAX_TOKENS: '1000000', LIMIT_MAX_DOCUMENT_BYTES: '10000000', LIMIT_MAX_BODY_BYTES: '10000000', LIMIT_MAX_COST: '100' })).url;
});

afterAll(async () => {
  await world?.close();
});

interface Refusal {
  status: number;
  codes: string[];
  messages: string[];
  ms: number;
}

/** Sends a raw request, timing it, and checks nothing reached a subgraph. */
async function send(url: string, init: RequestInit & { search?: string } = {}): Promise<Refusal> {
  const requests = world.subgraphRequests();
  const setPrice = resolverCalls.setPrice;
  const started = performance.now();
  // An empty header value means "do not send it" (fetch would send it empty).
  const headers = Object.fromEntries(Object.entries({ 'content-type': 'application/json', ...(init.headers as Record<string, string>) }).filter(([, v]) => v !== ''));
  const response = await fetch(`${url}${init.search ?? ''}`, { method: 'POST', ...init, headers });
  const body = (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
  const ms = performance.now() - started;
  expect(world.subgraphRequests()).toBe(requests);
  expect(resolverCalls.setPrice).toBe(setPrice);
  expect(body.errors?.length).toBeGreaterThan(0);
  return { status: response.status, codes: [...new Set(body.errors!.map((e) => e.extensions?.code ?? ''))], messages: body.errors!.map((e) => e.message), ms };
}

const query = (q: string) => ({ body: JSON.stringify({ query: q }) });
const nested = (depth: number) => `{ ${'products { '.repeat(depth)}id${' }'.repeat(depth)} }`;
const aliased = (count: number) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: products { id }`).join(' ')} }`;
const manyTokens = (count: number) => `{ products { ${'id '.repeat(count)}} }`;
const BUDGET_MS = 2000;

describe('router: hostile documents are refused before execution, quickly, with a stable code', () => {
  it('depth 10,000 (110 KB): refused by its size, before parsing', async () => {
    const r = await send(strict, query(nested(10_000)));
    expect(r).toMatchObject({ status: 413, codes: ['DOCUMENT_TOO_LARGE'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('depth 2,000 (under the size limit): refused while parsing by the token cap', async () => {
    const r = await send(strict, query(nested(2_000)));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
    expect(r.messages[0]).toMatch(/tokens/);
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('depth 10,000 with no token cap: still refused while parsing, no crash', async () => {
    const r = await send(lenient, query(nested(10_000)));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('depth 500 with no token cap: refused by the depth rule', async () => {
    const r = await send(lenient, query(nested(500)));
    expect(r.status).toBe(400);
    expect(r.codes).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(r.messages).toContainEqual(expect.stringMatching(/depth limit of 12 exceeded/));
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('1,000 aliases: refused by the token cap, and by the alias rule without it', async () => {
    const capped = await send(strict, query(aliased(1000)));
    expect(capped).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
    const r = await send(lenient, query(aliased(1000)));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] });
    expect(r.messages).toContainEqual(expect.stringMatching(/Aliases limit of 30 exceeded/));
    expect(Math.max(capped.ms, r.ms)).toBeLessThan(BUDGET_MS);
  });

  it('10,000 tokens (under the size limit): refused while parsing', async () => {
    const r = await send(strict, query(manyTokens(10_000)));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
    expect(r.messages[0]).toMatch(/more that 2000 tokens/);
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('100,000 tokens with no token cap: refused in validation, not a 500', async () => {
    const r = await send(lenient, query(manyTokens(100_000)));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('an expensive but shallow, alias-light query: refused by the cost rule', async () => {
    const r = await send(lenient, query(`{ ${Array.from({ length: 20 }, (_, i) => `a${i}: products { id name price stock }`).join(' ')} }`));
    expect(r).toMatchObject({ status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] });
    expect(r.messages).toContainEqual(expect.stringMatching(/Cost limit of 100 exceeded/));
  });

  it('a 5 MB body: 413 before parsing', async () => {
    const r = await send(strict, { body: JSON.stringify({ query: '{ products { id } }', variables: { pad: 'x'.repeat(5_000_000) } }) });
    expect(r).toMatchObject({ status: 413, codes: ['BAD_REQUEST'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('malformed JSON: 400', async () => {
    const r = await send(strict, { body: '{"query": "{ products { id } }"' });
    expect(r).toMatchObject({ status: 400, codes: ['BAD_REQUEST'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('an array batch: refused', async () => {
    const r = await send(strict, { body: JSON.stringify(Array.from({ length: 100 }, () => ({ query: '{ products { id } }' }))) });
    expect(r).toMatchObject({ status: 400, codes: ['BAD_REQUEST'] });
    expect(r.messages[0]).toMatch(/batching disabled/);
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  const MUTATION = 'mutation { setPrice(id: "p1", amount: 1) { id } }';

  it('a mutation over GET: refused (405), even with a CSRF preflight header', async () => {
    const r = await send(strict, { method: 'GET', search: `?query=${encodeURIComponent(MUTATION)}`, headers: { 'apollo-require-preflight': 'true', 'content-type': '' } });
    expect(r).toMatchObject({ status: 405, codes: ['BAD_REQUEST'] });
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it.each([
    ['a simple GET (no preflight header)', { method: 'GET', search: `?query=${encodeURIComponent(MUTATION)}`, headers: { 'content-type': '' } }],
    ['a text/plain POST', { headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: MUTATION }) }],
    ['a form POST', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `query=${encodeURIComponent(MUTATION)}` }],
  ] as const)('a CSRF-unsafe request, %s: refused', async (_name, init) => {
    const r = await send(strict, init as RequestInit);
    expect(r).toMatchObject({ status: 400, codes: ['BAD_REQUEST'] });
    expect(r.messages[0]).toMatch(/Cross-Site Request Forgery/);
    expect(r.ms).toBeLessThan(BUDGET_MS);
  });

  it('still answers normal queries after all of that', async () => {
    for (const url of [strict, lenient]) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ products { id name stock } }' }) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: { products: [{ id: 'p1', name: 'Kettle', stock: 7 }, { id: 'p2', name: 'Mug', stock: 0 }] } });
    }
  });
});
