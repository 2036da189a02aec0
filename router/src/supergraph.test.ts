import { composeServices } from '@apollo/composition';
import { createLogger } from '@shopgraph/kit';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createRouterApp } from './app.ts';
import { loadRouterConfig } from './config.ts';
import { envName, gatewaySupergraphSdl, subgraphsOf, withUrlOverrides } from './supergraph.ts';

function compose(imports: string[], field: string): string {
  const result = composeServices([
    { name: 'catalog', url: 'http://127.0.0.1:4002/graphql', typeDefs: parse(`extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ${JSON.stringify(['@key', ...imports])}) type Query { a: String ${field} }`) },
    { name: 'product-reviews', url: 'http://127.0.0.1:4009/graphql', typeDefs: parse('extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"]) type Query { b: String }') },
  ]);
  if (result.errors) throw result.errors[0];
  return result.supergraphSdl;
}

const sdl = compose(['@authenticated', '@requiresScopes'], 'c: String @authenticated d: String @requiresScopes(scopes: [["staff"]])');

describe('subgraphsOf', () => {
  it('lists the subgraphs and routing URLs of a composed supergraph', () => {
    expect(subgraphsOf(parse(sdl))).toEqual([
      { name: 'catalog', url: 'http://127.0.0.1:4002/graphql' },
      { name: 'product-reviews', url: 'http://127.0.0.1:4009/graphql' },
    ]);
  });

  it('refuses a document that is not a supergraph', () => {
    expect(() => subgraphsOf(parse('type Query { a: String }'))).toThrow(/join__Graph/);
  });
});

describe('withUrlOverrides', () => {
  const endpoints = subgraphsOf(parse(sdl));

  it('overrides by subgraph name or by its env form, leaving the others', () => {
    expect(envName('product-reviews')).toBe('PRODUCT_REVIEWS');
    expect(withUrlOverrides(endpoints, { PRODUCT_REVIEWS: 'http://reviews:4000/graphql' })).toEqual([
      { name: 'catalog', url: 'http://127.0.0.1:4002/graphql' },
      { name: 'product-reviews', url: 'http://reviews:4000/graphql' },
    ]);
    expect(withUrlOverrides(endpoints, { catalog: 'http://catalog/graphql' })[0]).toEqual({ name: 'catalog', url: 'http://catalog/graphql' });
  });

  it('fails on an override for a subgraph the supergraph does not have (a typo would otherwise go unnoticed)', () => {
    expect(() => withUrlOverrides(endpoints, { CATALOGUE: 'http://x/graphql' })).toThrow(/CATALOGUE/);
  });
});

describe('gatewaySupergraphSdl', () => {
  it('drops the SECURITY purpose of exactly the features the router enforces', () => {
    expect(sdl).toMatch(/authenticated\/v0\.1", for: SECURITY/);
    const relaxed = gatewaySupergraphSdl(parse(sdl));
    expect(relaxed).toMatch(/@link\(url: "https:\/\/specs.apollo.dev\/authenticated\/v0.1"\)/);
    expect(relaxed).toMatch(/@link\(url: "https:\/\/specs.apollo.dev\/requiresScopes\/v0.1"\)/);
    expect(relaxed).toMatch(/join\/v0\.\d", for: EXECUTION/);
    // The directives themselves stay, for the query planner and for anyone reading the SDL.
    expect(relaxed).toMatch(/d: String .*@requiresScopes\(scopes: \[\["staff"\]\]\)/);
  });

  const config = loadRouterConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const logger = createLogger('router', 'silent');

  it('lets the gateway load a supergraph using @authenticated / @requiresScopes', async () => {
    const app = await createRouterApp({ config, logger, supergraphSdl: sdl });
    await app.close();
  });

  it('still fails start-up on a SECURITY feature the router does not enforce (@policy)', async () => {
    const withPolicy = compose(['@policy'], 'p: String @policy(policies: [["admin"]])');
    await expect(createRouterApp({ config, logger, supergraphSdl: withPolicy })).rejects.toThrow(/policy\/v0\.1 is for: SECURITY but is unsupported/);
  });
});
