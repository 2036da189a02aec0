import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { describe, expect, it } from 'vitest';
import { subgraphDataSource, type SubgraphClient, type SubgraphResponse } from './subgraphs.ts';

type Options = GraphQLDataSourceProcessOptions<{ authorization?: string }>;

function recording(answer: Partial<SubgraphResponse>) {
  const calls: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
  const client: SubgraphClient = {
    post: async (url, headers, body) => {
      calls.push({ url: url.href, headers, body });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data":{"a":1}}', ...answer };
    },
    close: () => {},
  };
  return { client, calls };
}

const options = (context: { authorization?: string }, restrict?: (hint: unknown) => void): Options =>
  ({
    kind: 'incoming operation',
    request: { query: '{ a }', variables: { representations: [{ __typename: 'T', id: '1' }] }, operationName: 'Op' },
    context,
    incomingRequestContext: { overallCachePolicy: restrict ? { restrict } : undefined },
  }) as unknown as Options;

describe('subgraphDataSource', () => {
  it('POSTs the body the gateway’s own data source would, with the verified Authorization only', async () => {
    const { client, calls } = recording({});
    const source = subgraphDataSource('http://catalog:4001/graphql', client);
    expect(await source.process(options({ authorization: 'Bearer t' }))).toEqual({ data: { a: 1 } });
    expect(calls).toEqual([
      {
        url: 'http://catalog:4001/graphql',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer t' },
        body: JSON.stringify({ query: '{ a }', variables: { representations: [{ __typename: 'T', id: '1' }] }, operationName: 'Op' }),
      },
    ]);
    await source.process(options({}));
    expect(calls[1]!.headers['authorization']).toBeUndefined();
  });

  it('turns an error status into a GraphQL error carrying the answer', async () => {
    const source = subgraphDataSource('http://catalog:4001/graphql', recording({ status: 401, body: '{"errors":[{"message":"no"}]}' }).client);
    const error = await source.process(options({})).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: '401: Unauthorized', extensions: { code: 'UNAUTHENTICATED', response: { status: 401, body: { errors: [{ message: 'no' }] } } } });
  });

  it('refuses an answer that is not a JSON object', async () => {
    const source = subgraphDataSource('http://catalog:4001/graphql', recording({ headers: { 'content-type': 'text/plain' }, body: 'hello' }).client);
    await expect(source.process(options({}))).rejects.toThrow('Expected JSON response body, but received: hello');
  });

  it('narrows the response cache policy by the subgraph’s Cache-Control', async () => {
    const hints: unknown[] = [];
    const source = subgraphDataSource('http://catalog:4001/graphql', recording({ headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60, private' } }).client);
    await source.process(options({}, (hint) => hints.push(hint)));
    expect(hints).toEqual([{ maxAge: 60, scope: 'PRIVATE' }]);
  });
});
