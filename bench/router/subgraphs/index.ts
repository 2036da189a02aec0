import { composeServices } from '@apollo/composition';
import type { GraphName } from '../workloads.ts';
import { guildSubgraphs } from './guild.ts';
import { shopSubgraphs } from './shop.ts';
import type { CannedSubgraph } from './types.ts';

export type { CannedSubgraph } from './types.ts';

export const graphs = (): Record<GraphName, CannedSubgraph[]> => ({ guild: guildSubgraphs, shop: shopSubgraphs() });

/** Where the canned server answers for a subgraph. */
export const subgraphPath = (graph: GraphName, subgraph: string): string => `/${graph}/${subgraph}`;

/** The supergraph of a graph's canned subgraphs (@apollo/composition), routing to the canned server at `baseUrl`. */
export function composeGraph(graph: GraphName, baseUrl: string): string {
  const result = composeServices(graphs()[graph].map(({ name, typeDefs }) => ({ name, typeDefs, url: `${baseUrl}${subgraphPath(graph, name)}` })));
  if (result.errors) throw new Error(`Composing the ${graph} graph failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  return result.supergraphSdl;
}
