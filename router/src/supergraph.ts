import { Kind, print, valueFromASTUntyped, type ConstDirectiveNode, type DocumentNode } from 'graphql';

export interface SubgraphEndpoint {
  /** The subgraph's name as composed (`join__graph(name:)`). */
  name: string;
  /** Where the router sends its fetches: the supergraph's routing URL unless overridden. */
  url: string;
}

/** The env-var form of a subgraph name: `product-reviews` → `PRODUCT_REVIEWS` (as in `SUBGRAPH_PRODUCT_REVIEWS_URL`). */
export const envName = (subgraph: string): string => subgraph.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** The subgraphs a composed supergraph routes to, read from its `join__Graph` enum. */
export function subgraphsOf(supergraph: DocumentNode): SubgraphEndpoint[] {
  const endpoints: SubgraphEndpoint[] = [];
  for (const definition of supergraph.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION || definition.name.value !== 'join__Graph') continue;
    for (const value of definition.values ?? []) {
      const directive = value.directives?.find((d) => d.name.value === 'join__graph');
      const args = Object.fromEntries((directive?.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
      if (typeof args['name'] !== 'string' || typeof args['url'] !== 'string') throw new Error(`Supergraph: join__Graph.${value.name.value} has no name/url`);
      endpoints.push({ name: args['name'], url: args['url'] });
    }
  }
  if (!endpoints.length) throw new Error('Supergraph: no join__Graph subgraphs (is this a composed Federation 2 supergraph?)');
  return endpoints;
}

/**
 * Applies routing URL overrides, keyed by subgraph name or its env-var form. An override naming
 * no subgraph of the supergraph is a configuration mistake (a typo would silently route to the
 * default URL), so it fails start-up.
 */
export function withUrlOverrides(endpoints: SubgraphEndpoint[], overrides: Record<string, string>): SubgraphEndpoint[] {
  const byKey = new Map(Object.entries(overrides).map(([key, url]) => [envName(key), url]));
  const unknown = [...byKey.keys()].filter((key) => !endpoints.some((e) => envName(e.name) === key));
  if (unknown.length) {
    throw new Error(`Subgraph URL override for unknown subgraph(s) ${unknown.join(', ')}; the supergraph has ${endpoints.map((e) => envName(e.name)).join(', ')}`);
  }
  return endpoints.map((e) => ({ name: e.name, url: byKey.get(envName(e.name)) ?? e.url }));
}

/** The `for: SECURITY` features this router enforces itself (authz.ts), by spec URL. */
export const ENFORCED_SECURITY_FEATURES = ['https://specs.apollo.dev/authenticated/v0.1', 'https://specs.apollo.dev/requiresScopes/v0.1'];

/**
 * The supergraph as handed to Apollo's federation libraries. They refuse any supergraph that links a
 * `for: SECURITY` feature, since they do not enforce them (Apollo Router does); this router does
 * enforce `@authenticated` and `@requiresScopes` before execution, so for exactly those spec
 * versions the purpose is dropped from the `@link`. Any other SECURITY or EXECUTION feature
 * (e.g. `@policy`, a newer version) still fails start-up, as it should.
 */
export function gatewaySupergraphSdl(supergraph: DocumentNode, enforced: readonly string[] = ENFORCED_SECURITY_FEATURES): string {
  const relaxLink = (directive: ConstDirectiveNode): ConstDirectiveNode => {
    if (directive.name.value !== 'link') return directive;
    const url = directive.arguments?.find((a) => a.name.value === 'url');
    if (!url || url.value.kind !== Kind.STRING || !enforced.includes(url.value.value.replace(/\/$/, ''))) return directive;
    return { ...directive, arguments: directive.arguments!.filter((a) => a.name.value !== 'for') };
  };
  return print({
    ...supergraph,
    definitions: supergraph.definitions.map((definition) =>
      (definition.kind === Kind.SCHEMA_DEFINITION || definition.kind === Kind.SCHEMA_EXTENSION) && definition.directives
        ? { ...definition, directives: definition.directives.map(relaxLink) }
        : definition),
  });
}
