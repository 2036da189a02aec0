import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type SubscriptionNode } from '@apollo/query-planner';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operation } from '../e2e/operations.ts';
import { gatewaySupergraphSdl } from '../router/src/supergraph.ts';

// How the committed supergraph plans the clients' operations where a subgraph's schema decides the
// number of fetches (not only their answers).
// As the router plans them (it enforces the security features itself, then plans without them).
const supergraph = Supergraph.build(gatewaySupergraphSdl(parse(readFileSync(join(import.meta.dirname, '..', 'supergraph.graphql'), 'utf8'))));
const planner = new QueryPlanner(supergraph);

function fetchesOf(name: string): FetchNode[] {
  const plan = planner.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(operation(name)), { operationName: name }));
  const fetches: FetchNode[] = [];
  const visit = (node: PlanNode | SubscriptionNode | undefined): void => {
    if (!node) return;
    if (node.kind === 'Fetch') fetches.push(node);
    else if (node.kind === 'Flatten') visit(node.node);
    else if (node.kind === 'Sequence' || node.kind === 'Parallel') node.nodes.forEach(visit);
    else throw new Error(`unexpected plan node ${node.kind}`);
  };
  visit(plan.node);
  return fetches;
}

describe('SearchProducts (the web client’s search)', () => {
  const fetches = fetchesOf('SearchProducts');

  it('takes the products’ sku, name, price and category from search’s index, not from catalog', () => {
    const search = fetches.filter((f) => f.serviceName === 'search');
    expect(search).toHaveLength(1);
    expect(search[0]!.operation).toMatch(/node\{__typename id sku name price\{amount currency\}category\{__typename id\}\}/);
    expect(fetches.filter((f) => f.serviceName === 'catalog' && /\.\.\.on Product\b/.test(f.operation))).toEqual([]);
  });

  it('asks the owners only for what the index does not hold: category names and live stock', () => {
    expect(fetches.map((f) => f.serviceName).sort()).toEqual(['catalog', 'catalog', 'inventory', 'search']);
    expect(fetches.filter((f) => f.serviceName === 'catalog').every((f) => /\.\.\.on Category\{name\}/.test(f.operation))).toBe(true);
  });
});
