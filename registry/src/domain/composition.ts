import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import { GraphQLError, parse, type DocumentNode, type GraphQLSchema } from 'graphql';
import { createHash } from 'node:crypto';
import { badInput, BadInputReason } from './bad-input.ts';

export interface SubgraphSource {
  name: string;
  url: string;
  sdl: string;
}

export interface CompositionMessage {
  code: string | null;
  message: string;
}

export type Composition =
  | { ok: true; supergraphSdl: string; errors: []; hints: CompositionMessage[] }
  | { ok: false; supergraphSdl: null; errors: CompositionMessage[]; hints: CompositionMessage[] };

/** Parses a subgraph's SDL, or refuses it naming the subgraph, line and column. */
export function parseSubgraphSdl(name: string, sdl: string): DocumentNode {
  try {
    return parse(sdl);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    const at = error.locations?.[0];
    throw badInput(BadInputReason.SDL_PARSE_FAILED, `The SDL of subgraph "${name}" does not parse${at ? ` (line ${at.line}, column ${at.column})` : ''}: ${error.message}`, {
      subgraph: name,
      ...(at ? { line: at.line, column: at.column } : {}),
    });
  }
}

/** Composes subgraphs (in name order, so the same set always gives the same supergraph). */
export function composeSubgraphs(subgraphs: readonly SubgraphSource[]): Composition {
  if (!subgraphs.length) return { ok: false, supergraphSdl: null, errors: [{ code: 'NO_SUBGRAPHS', message: 'A variant needs at least one subgraph.' }], hints: [] };
  const sorted = subgraphs.toSorted((a, b) => a.name.localeCompare(b.name));
  const result = composeServices(sorted.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
  const hints = (result.hints ?? []).map((hint) => ({ code: hint.definition.code, message: hint.message }));
  if (result.errors) {
    return { ok: false, supergraphSdl: null, errors: result.errors.map((e) => ({ code: typeof e.extensions['code'] === 'string' ? e.extensions['code'] : null, message: e.message })), hints };
  }
  return { ok: true, supergraphSdl: `${result.supergraphSdl.trimEnd()}\n`, errors: [], hints };
}

/** The client-facing schema of a supergraph: what clients may query (no @inaccessible, no join directives). */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  // Which features a router supports is the router's concern, not the registry's.
  return Supergraph.build(supergraphSdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema();
}

/** The id routers compare: sha256 hex of the supergraph SDL. */
export const supergraphIdOf = (sdl: string): string => createHash('sha256').update(sdl).digest('hex');
