import { parse, type DocumentNode, type GraphQLSchema } from 'graphql';
import { apiChanges, type SchemaChange } from './api-changes.ts';
import { apiSchemaOf, composeSubgraphs, type Composition, type SubgraphSource } from './composition.ts';
import { eventContractChanges, type EventContractChange, type EventContractSchema } from './event-contracts.ts';
import { federatedSubgraph, federationChanges, type FederatedSubgraph } from './federation-changes.ts';
import { lintSubgraph, type LintFinding, type LintRule, type LintSeverity } from './lint.ts';

/** What a variant has published. */
export interface PublishedState {
  /** The newest version, null before the first publish. */
  latest: { version: number; supergraphSdl: string } | null;
  subgraphs: SubgraphSource[];
  eventContracts: EventContractSchema[];
}

/** One subgraph as proposed: its new SDL (parsed) and URL, or its deletion. */
export type SubgraphProposal = { name: string; delete: false; sdl: string; document: DocumentNode; url: string } | { name: string; delete: true };

export interface Evaluation {
  composition: Composition;
  /** The subgraphs as they would be published. */
  subgraphs: SubgraphSource[];
  /** Client-facing schemas before (null: nothing published) and after (null: does not compose). */
  before: GraphQLSchema | null;
  after: GraphQLSchema | null;
  changes: SchemaChange[];
  lint: LintFinding[];
  /** Null when the proposal carries no event contracts. */
  eventContracts: EventContractChange[] | null;
}

/**
 * Everything a proposal does to a variant that needs no stored operations or usage: the
 * composition of the whole supergraph with the change, the API and federation changes, lint
 * findings of the proposed SDLs and the event contract changes.
 */
export async function evaluate(state: PublishedState, proposals: readonly SubgraphProposal[], lint: Record<LintRule, LintSeverity>, eventContracts: EventContractSchema[] | null): Promise<Evaluation> {
  const proposed = new Map(state.subgraphs.map((s) => [s.name, s]));
  for (const proposal of proposals) {
    if (proposal.delete) proposed.delete(proposal.name);
    else proposed.set(proposal.name, { name: proposal.name, url: proposal.url, sdl: proposal.sdl });
  }
  const subgraphs = [...proposed.values()];
  const composition = proposals.length ? composeSubgraphs(subgraphs) : ({ ok: true, supergraphSdl: state.latest?.supergraphSdl ?? '', errors: [], hints: [] } as Composition);
  const before = state.latest ? apiSchemaOf(state.latest.supergraphSdl) : null;
  const after = composition.ok && composition.supergraphSdl ? apiSchemaOf(composition.supergraphSdl) : null;

  // Federation changes need only the subgraphs' SDLs: they are reported even when composition fails.
  const federation = before ? federationDiffs(state.subgraphs, subgraphs, proposals) : { changes: [], madeInaccessible: new Map<string, string>() };
  const changes: SchemaChange[] = [];
  if (before && after && proposals.length) {
    for (const change of await apiChanges(before, after)) {
      const hiddenBy = federation.madeInaccessible.get(change.coordinate);
      changes.push(hiddenBy && change.severity === 'BREAKING'
        ? { ...change, kind: 'INACCESSIBLE_ADDED', subgraph: hiddenBy, message: `${change.coordinate} was hidden from clients with @inaccessible in ${hiddenBy} (subgraphs can still use it): operations selecting it fail validation.` }
        : change);
    }
  }
  changes.push(...federation.changes);
  const findings = proposals.flatMap((p) => (p.delete ? [] : lintSubgraph(p.name, p.document, lint)));
  return {
    composition,
    subgraphs,
    before,
    after,
    changes,
    lint: findings,
    eventContracts: eventContracts ? eventContractChanges(state.eventContracts, eventContracts) : null,
  };
}

/** The federation changes of every proposed subgraph, each against the others as they would be published. */
function federationDiffs(published: readonly SubgraphSource[], proposed: readonly SubgraphSource[], proposals: readonly SubgraphProposal[]) {
  const federated = (sources: readonly SubgraphSource[]) => new Map(sources.map((s) => [s.name, federatedSubgraph(parse(s.sdl))]));
  const before = federated(published);
  const after = federated(proposed);
  const changes: SchemaChange[] = [];
  const madeInaccessible = new Map<string, string>();
  for (const proposal of proposals) {
    const others = new Map<string, FederatedSubgraph>([...after].filter(([name]) => name !== proposal.name));
    const diff = federationChanges(proposal.name, before.get(proposal.name) ?? null, after.get(proposal.name) ?? null, others);
    changes.push(...diff.changes);
    for (const coordinate of diff.madeInaccessible) madeInaccessible.set(coordinate, proposal.name);
  }
  return { changes, madeInaccessible };
}

