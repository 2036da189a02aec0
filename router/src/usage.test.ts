import { createLogger } from '@shopgraph/core/log';
import { buildSchema, getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { PreparedOperation } from './execution.ts';
import type { UsageReport } from './registry-client.ts';
import { fieldCoordinates, UsageReporter, type UsedOperation } from './usage.ts';

const schema = buildSchema(`
  type Query { me: User node(id: ID!): Node }
  interface Node { id: ID! }
  type User implements Node { id: ID! name: String friends: [User!]! }
`);

function used(query: string, operationName?: string): UsedOperation {
  const document = parse(query);
  return { query, document, operation: getOperationAST(document, operationName)!, operationName, plan: {} as PreparedOperation, generation: { schema } };
}

describe('fieldCoordinates', () => {
  it('lists what the picked operation selects, through fragments, once each, without __typename', () => {
    const document = parse(`
      query A { me { ...Friendly __typename } }
      query B { node(id: "1") { id ... on User { name } } }
      fragment Friendly on User { friends { ...Named } }
      fragment Named on User { name }
    `);
    expect(fieldCoordinates(schema, document, getOperationAST(document, 'A')!)).toEqual(['Query.me', 'User.friends', 'User.name']);
    expect(fieldCoordinates(schema, document, getOperationAST(document, 'B')!)).toEqual(['Node.id', 'Query.node', 'User.name']);
  });
});

describe('UsageReporter', () => {
  const logger = createLogger('test', 'silent');

  it('caps distinct keys per window (the rest dropped, not recorded)', async () => {
    const reports: UsageReport[] = [];
    const reporter = new UsageReporter({ send: async (r) => void reports.push(r), intervalMs: 60_000, logger, maxKeys: 2 });
    const op = used('{ me { id } }');
    for (const client of ['a', 'b', 'c', 'd']) reporter.record(op, client, '1', false);
    reporter.record(op, 'a', '1', true);
    await reporter.close();
    expect(reports[0]!.operations.map((o) => [o.clientName, o.count, o.errors])).toEqual([['a', 2, 1], ['b', 1, 0]]);
  });

  it('retries a failed report once, then drops it', async () => {
    let attempts = 0;
    const reporter = new UsageReporter({ send: async () => {
      if (attempts++ < 1) throw new Error('down');
    }, intervalMs: 60_000, logger, retryDelayMs: 1 });
    reporter.record(used('{ me { id } }'), undefined, undefined, false);
    await reporter.flush();
    expect(attempts).toBe(2);

    let failures = 0;
    const down = new UsageReporter({ send: () => (failures++, Promise.reject(new Error('down'))), intervalMs: 60_000, logger, retryDelayMs: 1 });
    down.record(used('{ me { id } }'), undefined, undefined, false);
    await down.flush();
    expect(failures).toBe(2);
    // Dropped: the next window does not carry it.
    await down.flush();
    expect(failures).toBe(2);
    await Promise.all([reporter.close(), down.close()]);
  });
});
