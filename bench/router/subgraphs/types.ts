import type { GraphQLResolverMap } from '@apollo/subgraph';
import type { DocumentNode } from 'graphql';

/** A subgraph the canned server can answer for: its SDL and the resolvers that compute first answers. */
export interface CannedSubgraph {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<unknown>;
}

/** A supergraph of canned subgraphs, served under `/<graph>/<subgraph>`. */
export interface CannedGraph {
  name: string;
  subgraphs: CannedSubgraph[];
}
