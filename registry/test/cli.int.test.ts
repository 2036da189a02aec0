// The CLI as another team's CI runs it: a process, its exit code and its output.
import { freePort } from '@shopgraph/infra';
import type { ServiceUnderTest } from '@shopgraph/testkit';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest, products, reviews } from './fixtures.ts';
import { startRegistry, tokens } from './support.ts';

const BIN = join(import.meta.dirname, '../cli/bin/shopgraph-schema.js');
const dir = mkdtempSync(join(tmpdir(), 'registry-cli-'));
const file = (name: string, content: string) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};
let registry: ServiceUnderTest;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, REGISTRY_URL: registry.url, REGISTRY_TOKEN: tokens.publisher, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }));
  });
}
const withVariant = (...args: string[]) => [...args, '--variant', 'cli'];

beforeAll(async () => {
  registry = await startRegistry();
  file('products.graphql', products());
  file('reviews.graphql', reviews());
  const config = file('supergraph.yaml', 'subgraphs:\n  products:\n    routing_url: http://products:4001/graphql\n    schema:\n      file: ./products.graphql\n  reviews:\n    routing_url: http://reviews:4002/graphql\n    schema:\n      file: ./reviews.graphql\n');
  const published = await cli(withVariant('publish', '--config', config, '--author', 'cli test'));
  expect(published.stderr).toBe('');
  expect(published).toMatchObject({ code: 0, stdout: expect.stringContaining('Published cli version 1.') });
});
afterAll(() => registry?.close());

describe('shopgraph-schema', () => {
  it('check: exit 0 when the change is safe, human-readable by default', async () => {
    const schema = file('safe.graphql', products('name: String!\n  legacyCode: String\n  price: Int!\n  color: String'));
    const { code, stdout } = await cli(withVariant('check', '--subgraph', 'products', '--schema', schema));
    expect(stdout).toContain('Schema check of cli against version 1: PASSED');
    expect(stdout).toMatch(/· SAFE\s+Product\.color/);
    expect(code).toBe(0);
  });

  it('check: exit 1 when it fails, and --json for machines', async () => {
    await cli(withVariant('clients', 'push', '--client', 'web', '--version', '1.4', '--manifest', file('manifest.json', manifest(['query Price($id: ID!) { product(id: $id) { price } }']))));
    const schema = file('breaking.graphql', products('name: String!\n  legacyCode: String'));
    const { code, stdout } = await cli(withVariant('check', '--subgraph', 'products', '--schema', schema, '--json'));
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ passed: false, operations: [{ client: 'web', version: '1.4', name: 'Price' }] });
    expect(result.changes[0]).toMatchObject({ severity: 'BREAKING', coordinate: 'Product.price', safeByUsage: false });
    expect(code).toBe(1);
  });

  it('fetch and history read what was published', async () => {
    expect((await cli(withVariant('fetch', '--subgraph', 'reviews'))).stdout.trim()).toBe(reviews().trim());
    expect((await cli(withVariant('fetch'))).stdout).toContain('join__Graph');
    const history = await cli(withVariant('history'));
    expect(history.stdout).toMatch(/^v1 .* ci \(cli test\)\s+\+products \+reviews/);
  });

  it('exit 2 for bad arguments and for input the registry refuses, saying what to fix', async () => {
    expect(await cli(withVariant('check'))).toMatchObject({ code: 2, stderr: expect.stringContaining('check needs --subgraph') });
    expect(await cli(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('Unknown command "frobnicate"') });
    const broken = file('broken.graphql', 'type Query {');
    expect(await cli(withVariant('check', '--subgraph', 'products', '--schema', broken))).toMatchObject({ code: 2, stderr: expect.stringMatching(/does not parse \(line 1, column 13\).*\[SDL_PARSE_FAILED\]/) });
    expect(await cli(withVariant('check', '--subgraph', 'products', '--schema', join(dir, 'missing.graphql')))).toMatchObject({ code: 2, stderr: expect.stringContaining('ENOENT') });
    expect(await cli(withVariant('publish', '--subgraph', 'inventory', '--delete'))).toMatchObject({ code: 2, stderr: expect.stringContaining('[UNKNOWN_SUBGRAPH]') });
    const relay = file('relay.json', JSON.stringify({ '1a2b': 'query A { a }' }));
    expect(await cli(withVariant('clients', 'push', '--client', 'web', '--version', '2.0', '--manifest', relay))).toMatchObject({ code: 2, stderr: expect.stringContaining('[UNKNOWN_MANIFEST_FORMAT]') });
  });

  it('exit 3 when the token may not publish', async () => {
    const schema = file('scope.graphql', products('name: String!\n  legacyCode: String\n  price: Int!\n  size: Int'));
    const { code, stderr } = await cli(withVariant('publish', '--subgraph', 'products', '--schema', schema), { REGISTRY_TOKEN: tokens.checker });
    expect(stderr).toContain('The token may not do this: Mutation.publishSchema requires scope publish');
    expect(code).toBe(3);
    expect((await cli(withVariant('history'))).stdout).not.toMatch(/^v2/m);
  });

  it('exit 3 with a clear message when the registry is down', async () => {
    const down = `http://127.0.0.1:${await freePort()}/graphql`;
    const { code, stderr } = await cli(withVariant('check', '--subgraph', 'reviews', '--schema', join(dir, 'reviews.graphql')), { REGISTRY_URL: down });
    expect(stderr).toContain(`The schema registry at ${down} is unreachable (ECONNREFUSED)`);
    expect(code).toBe(3);
  });
});
