import { errorCodes, type ServiceUnderTest } from '@shopgraph/testkit';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contract, manifest, products, reviews, subgraphs } from './fixtures.ts';
import { CHECK, PUBLISH, registryCall, startRegistry, tokens } from './support.ts';

let registry: ServiceUnderTest;
const call = <T = Record<string, any>>(query: string, variables: Record<string, unknown>, token?: string) => registryCall<T>(registry, query, variables, token);
const check = async (variables: Record<string, unknown>) => {
  const response = await call(CHECK, { input: { variant: 'production', ...variables } }, tokens.checker);
  expect(response.errors).toBeUndefined();
  return response.data!.schemaCheck;
};
const publish = (variables: Record<string, unknown>, token?: string) => call(PUBLISH, { input: { variant: 'production', ...variables } }, token);
const versionCount = async () => Number((await registry.sql<{ n: string }>('select count(*) as n from schema_version'))[0]!.n);
const REPORT = 'mutation Report($variant: String!, $report: UsageReportInput!) { reportUsage(variant: $variant, report: $report) }';
const usage = (fields: string[], count: number, clientName = 'web', clientVersion = '1.4') => ({
  windowStart: new Date(Date.now() - 60_000).toISOString(),
  windowEnd: new Date().toISOString(),
  operations: [{ clientName, clientVersion, operationName: 'Op', documentId: 'a'.repeat(64), count, errors: 0, fields }],
});

beforeAll(async () => {
  registry = await startRegistry({ REGISTRY_MAX_SDL_BYTES: '20000', LIMIT_MAX_BODY_BYTES: '200000', REGISTRY_TRUSTED_DOCUMENTS_REQUIRED: 'production' });
  const first = await publish({ subgraphs: subgraphs(), author: 'release bot', eventContracts: [contract({ id: { type: 'string' }, name: { type: 'string' } }, ['id', 'name'])] });
  expect(first.errors).toBeUndefined();
  expect(first.data!.publishSchema).toMatchObject({ changed: true, errors: [], version: { version: 1, publishedBy: 'ci', author: 'release bot' } });
});
afterAll(() => registry?.close());

describe('publish', () => {
  it('stores the composed supergraph and serves it to routers, with its sha256 as id', async () => {
    const query = 'query($variant: String!, $ifNotId: ID) { routerSupergraph(variant: $variant, ifNotId: $ifNotId) { id sdl publishedAt } }';
    const { data } = await call(query, { variant: 'production' }, tokens.router);
    const { id, sdl } = data!.routerSupergraph;
    expect(sdl).toContain('join__Graph');
    expect(id).toBe(createHash('sha256').update(sdl).digest('hex'));
    expect((await call(query, { variant: 'production', ifNotId: id }, tokens.router)).data!.routerSupergraph).toMatchObject({ id, sdl: null });
    expect((await call(query, { variant: 'nothing-here' }, tokens.router)).data!.routerSupergraph).toBeNull();
  });

  it('makes no version when nothing changed', async () => {
    const before = await versionCount();
    const { data } = await publish({ subgraphs: subgraphs().slice(0, 1) });
    expect(data!.publishSchema).toMatchObject({ changed: false, version: { version: before } });
    expect(await versionCount()).toBe(before);
  });

  it('refuses what does not compose and changes nothing', async () => {
    const before = await versionCount();
    const { data } = await publish({ subgraphs: [{ name: 'reviews', sdl: reviews('rating: Float\n  name: Int') }] });
    expect(data!.publishSchema.version).toBeNull();
    expect(data!.publishSchema.errors[0].code).toBe('COMPOSITION_FAILED');
    expect(data!.publishSchema.check.composition.errors.length).toBeGreaterThan(0);
    expect(await versionCount()).toBe(before);
    const [stored] = await registry.sql<{ sdl: string }>(`select sdl from published_subgraph where variant = 'production' and name = 'reviews'`);
    expect(stored!.sdl).toBe(reviews());
  });

  it('records who published what and when, newest first', async () => {
    const { data } = await publish({ subgraphs: [{ name: 'reviews', sdl: reviews('rating: Float\n  reviewCount: Int') }], author: 'dev@example.com' });
    expect(data!.publishSchema).toMatchObject({ changed: true, version: { subgraphs: [{ name: 'reviews', action: 'PUBLISHED', routingUrl: 'http://reviews:4002/graphql' }] } });
    const history = await call('query { schemaVersions(variant: "production", first: 2) { version author publishedBy publishedAt changes { severity coordinate } } }', {}, tokens.checker);
    const [newest, previous] = history.data!.schemaVersions;
    expect(newest).toMatchObject({ author: 'dev@example.com', publishedBy: 'ci', changes: [{ severity: 'SAFE', coordinate: 'Product.reviewCount' }] });
    expect(newest.version).toBe(previous.version + 1);
  });
});

describe('check', () => {
  it('reports an unused breaking change as safe by usage, and passes', async () => {
    const result = await check({ subgraphs: [{ name: 'products', sdl: products('name: String!\n  price: Int!') }] });
    expect(result.passed).toBe(true);
    expect(result.changes).toEqual([
      expect.objectContaining({ kind: 'FIELD_REMOVED', severity: 'BREAKING', safeByUsage: true, coordinate: 'Product.legacyCode', usage: expect.objectContaining({ requests: 0 }) }),
    ]);
  });

  it('fails a breaking change that routers saw used, saying by whom and how much', async () => {
    const reported = await call(REPORT, { variant: 'usage-demo', report: usage(['Query.product', 'Product.legacyCode'], 12_000) }, tokens.router);
    expect(reported.data).toEqual({ reportUsage: true });
    await call(REPORT, { variant: 'usage-demo', report: usage(['Product.legacyCode'], 340, 'mobile', '2.3') }, tokens.router);
    await call(PUBLISH, { input: { variant: 'usage-demo', subgraphs: subgraphs() } });
    const { data } = await call(CHECK, { input: { variant: 'usage-demo', subgraphs: [{ name: 'products', sdl: products('name: String!\n  price: Int!') }] } }, tokens.checker);
    const result = data!.schemaCheck;
    expect(result.passed).toBe(false);
    expect(result.changes[0]).toMatchObject({ coordinate: 'Product.legacyCode', safeByUsage: false, usage: { requests: 12_340, summary: 'used by web 1.4 and mobile 2.3, 12,340 requests in the last 7 days' } });
  });

  it('validates every registered operation against the new API and names the client versions it breaks', async () => {
    const push = await call(
      'mutation($input: PushClientManifestInput!) { pushClientManifest(input: $input) { client version operations errors { code } } }',
      { input: { variant: 'production', client: 'mobile', version: '2.3', manifest: manifest(['query ProductName($id: ID!) { product(id: $id) { id name } }']) } },
    );
    expect(push.data!.pushClientManifest).toEqual({ client: 'mobile', version: '2.3', operations: 1, errors: [] });
    const result = await check({ subgraphs: [{ name: 'products', sdl: products('legacyCode: String\n  price: Int!') }] });
    expect(result.passed).toBe(false);
    expect(result.operations).toEqual([{ client: 'mobile', version: '2.3', name: 'ProductName', errors: ['Cannot query field "name" on type "Product".'] }]);
    expect(result.changes[0]).toMatchObject({ coordinate: 'Product.name', safeByUsage: false, usage: { summary: 'used by mobile 2.3, 0 requests in the last 7 days', operations: [{ client: 'mobile', version: '2.3', name: 'ProductName' }] } });

    const trusted = await call('query { routerTrustedDocuments(variant: "production") { required documents { id body } } }', {}, tokens.router);
    expect(trusted.data!.routerTrustedDocuments).toMatchObject({ required: true, documents: [{ body: 'query ProductName($id: ID!) { product(id: $id) { id name } }' }] });
  });

  it('reports composition errors of the whole supergraph with the change', async () => {
    const result = await check({ subgraphs: [{ name: 'reviews', sdl: reviews('rating: Float\n  price: String') }] });
    expect(result.passed).toBe(false);
    expect(result.composition.errors.map((e: { code: string }) => e.code)).toContain('INVALID_FIELD_SHARING');
  });

  it('reports lint findings, with the severity the check asks for', async () => {
    const sdl = products('name: String!\n  legacyCode: String\n  price: Int!\n  Bad_field: Int');
    const defaults = await check({ subgraphs: [{ name: 'products', sdl }] });
    expect(defaults.lint).toEqual([expect.objectContaining({ rule: 'field-names-camel-case', severity: 'ERROR', coordinate: 'Product.Bad_field' })]);
    expect(defaults.passed).toBe(false);
    const relaxed = await check({ subgraphs: [{ name: 'products', sdl }], lint: [{ rule: 'field-names-camel-case', severity: 'WARNING' }] });
    expect(relaxed.lint[0].severity).toBe('WARNING');
    expect(relaxed.passed).toBe(true);
  });

  it('checks the deletion of a subgraph', async () => {
    const result = await check({ subgraphs: [{ name: 'reviews', delete: true }] });
    expect(result.changes.map((c: { coordinate: string }) => c.coordinate)).toEqual(expect.arrayContaining(['Product.rating', 'Product.reviewCount']));
  });

  describe('event contracts', () => {
    const base = { id: { type: 'string' }, name: { type: 'string' } };
    it('passes an optional field added', async () => {
      const result = await check({ subgraphs: [], eventContracts: [contract({ ...base, note: { type: 'string' } }, ['id', 'name'])] });
      expect(result.eventContracts).toEqual([expect.objectContaining({ severity: 'SAFE', message: expect.stringContaining('data.note added (optional)') })]);
      expect(result.passed).toBe(true);
    });

    it.each([
      ['a field removed', contract({ id: { type: 'string' } }, ['id']), 'data.name: removed'],
      ['a field retyped', contract({ ...base, name: { type: 'integer' } }, ['id', 'name']), 'data.name: type string became integer'],
    ])('fails %s, in the same result and exit', async (_name, proposed, problem) => {
      const result = await check({ subgraphs: [{ name: 'reviews', sdl: reviews('rating: Float\n  reviewCount: Int') }], eventContracts: [proposed] });
      expect(result.eventContracts).toEqual([expect.objectContaining({ type: 'catalog.product.changed', severity: 'BREAKING', message: expect.stringContaining(problem) })]);
      expect(result.passed).toBe(false);
    });
  });
});

describe('tokens', () => {
  it('refuses publishing without the publish scope, and without a known token', async () => {
    const before = await versionCount();
    const forbidden = await publish({ subgraphs: [{ name: 'reviews', sdl: reviews('score: Int') }] }, tokens.checker);
    expect(errorCodes(forbidden)).toEqual(['FORBIDDEN']);
    const unknown = await publish({ subgraphs: [{ name: 'reviews', sdl: reviews('score: Int') }] }, 'not-a-registry-token');
    expect([unknown.status, errorCodes(unknown)]).toEqual([401, ['UNAUTHENTICATED']]);
    const anonymous = await registryCall(registry, PUBLISH, { input: { variant: 'production', subgraphs: [] } }, '');
    expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);
    expect(await versionCount()).toBe(before);
  });

  it('serves the supergraph to router tokens only', async () => {
    const query = '{ routerSupergraph(variant: "production") { id } }';
    expect(errorCodes(await call(query, {}, tokens.checker))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await call(query, {}, tokens.router))).toEqual([]);
  });
});

describe('bad input: a clear error naming what to fix, nothing stored', () => {
  const reasonOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;

  it.each([
    ['SDL that does not parse', { subgraphs: [{ name: 'products', sdl: `${products()}\ntype Broken {` }] }, 'SDL_PARSE_FAILED', /\(line 15, column 14\): Syntax Error: Expected Name/],
    ['the deletion of a subgraph not in the variant', { subgraphs: [{ name: 'shipping', delete: true }] }, 'UNKNOWN_SUBGRAPH', /not published in this variant.*products, reviews/],
    ['a new subgraph without its URL', { subgraphs: [{ name: 'shipping', sdl: reviews('weight: Int') }] }, 'ROUTING_URL_REQUIRED', /give its routing URL/],
    ['an SDL over the size limit', { subgraphs: [{ name: 'products', sdl: `${products()}\n# ${'x'.repeat(25_000)}` }] }, 'SDL_TOO_LARGE', /at most 20000/],
  ])('%s', async (_name, input, reason, message) => {
    const before = await versionCount();
    const response = await publish(input);
    expect(reasonOf(response)).toMatchObject({ code: 'BAD_USER_INPUT', reason });
    expect(response.errors![0]!.message).toMatch(message);
    expect(await versionCount()).toBe(before);
  });

  it('refuses a manifest in an unknown format', async () => {
    const response = await call('mutation($input: PushClientManifestInput!) { pushClientManifest(input: $input) { operations } }', {
      input: { variant: 'production', client: 'web', version: '9.9', manifest: JSON.stringify({ format: 'relay', operations: {} }) },
    });
    expect(reasonOf(response)).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'UNKNOWN_MANIFEST_FORMAT' });
    expect(response.errors![0]!.message).toMatch(/expected "apollo-persisted-query-manifest" version 1/);
    expect(await registry.sql(`select 1 from client_version where client_version = '9.9'`)).toEqual([]);
  });

  it('refuses a request body over the limit before reading it', async () => {
    const before = await versionCount();
    const response = await publish({ subgraphs: [{ name: 'products', sdl: `${products()}\n# ${'x'.repeat(300_000)}` }] });
    expect(response.status).toBe(413);
    expect(await versionCount()).toBe(before);
  });
});

it('has migrations that build exactly what the entities describe', async () => {
  expect((await registry.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
});
