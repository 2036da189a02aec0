import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, subscribe, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Identity } from './auth.ts';
import { enforceRequirements } from './authz.ts';

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@authenticated", "@requiresScopes"])
  type Query { ping: String }
  type Subscription {
    open: Int!
    mine: Int! @authenticated
    staff: Int! @requiresScopes(scopes: [["staff"]])
  }
`);

const identity = (...scopes: string[]): Identity => ({ userId: 'u1', scopes: new Set(scopes), expiresAt: Date.now() / 1000 + 60 });

/** A schema whose subscription sources count how often they were set up. */
function schema() {
  const started = { open: 0, mine: 0, staff: 0 };
  const source = (field: keyof typeof started) => ({
    subscribe: async function* () {
      started[field]++;
      yield { [field]: 1 };
    },
  });
  const built = buildSubgraphSchema([{ typeDefs, resolvers: { Subscription: { open: source('open'), mine: source('mine'), staff: source('staff') } } as never }]);
  return { schema: enforceRequirements(built, typeDefs), started };
}

async function run(field: string, who: Identity | null) {
  const { schema: guarded, started } = schema();
  const result = await subscribe({ schema: guarded, document: parse(`subscription { ${field} }`), contextValue: { identity: who } });
  return { result, started };
}

describe('enforceRequirements on subscriptions', () => {
  it('refuses a guarded subscription when subscribing: the source is never set up', async () => {
    for (const [field, who, code] of [['mine', null, 'UNAUTHENTICATED'], ['staff', null, 'UNAUTHENTICATED'], ['staff', identity('customer'), 'FORBIDDEN']] as const) {
      const { result, started } = await run(field, who);
      expect(Symbol.asyncIterator in result).toBe(false);
      expect((result as ExecutionResult).errors?.map((e) => e.extensions['code'])).toEqual([code]);
      expect(started[field]).toBe(0);
    }
  });

  it('lets a caller who meets the requirement subscribe, and checks each event too', async () => {
    for (const [field, who] of [['open', null], ['mine', identity('customer')], ['staff', identity('customer', 'staff')]] as const) {
      const { result, started } = await run(field, who);
      const events = result as AsyncGenerator<ExecutionResult>;
      expect((await events.next()).value).toEqual({ data: { [field]: 1 } });
      expect(started[field]).toBe(1);
    }
  });
});
