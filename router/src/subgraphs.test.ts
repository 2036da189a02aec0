import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { FetchContext } from './pipeline.ts';
import type { HttpClient, HttpResponse } from '@shopgraph/core/http-client';
import { subgraphDataSource } from './subgraphs.ts';

type Options = GraphQLDataSourceProcessOptions<FetchContext>;

function recording(answer: Partial<HttpResponse>) {
  const calls: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
  const client: HttpClient = {
    post: async (url, headers, body) => {
      calls.push({ url: url.href, headers, body });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data":{"a":1}}', ...answer };
    },
    release: () => {},
    close: () => {},
  };
  return { client, calls };
}

const options = (context: { authorization?: string }, restrict?: (hint: unknown) => void): Options =>
  ({
    kind: 'incoming operation',
    request: { query: '{ a }', variables: { representations: [{ __typename: 'T', id: '1' }] }, operationName: 'Op' },
    context: { ...context, cachePolicy: restrict ? { restrict } : undefined },
  }) as unknown as Options;

describe('subgraphDataSource', () => {
  it('POSTs the body the gateway’s own data source would, with the verified Authorization only', async () => {
    const { client, calls } = recording({});
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', client);
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

  it('turns an error status into a GraphQL error with the status and subgraph only; the address and answer are its cause, for the logs', async () => {
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', recording({ status: 401, body: '{"errors":[{"message":"no"}]}' }).client);
    const error = (await source.process(options({})).catch((e: unknown) => e)) as GraphQLError;
    expect(error.toJSON()).toEqual({ message: '401: Unauthorized', extensions: { code: 'UNAUTHENTICATED', serviceName: 'catalog', response: { status: 401, statusText: 'Unauthorized' } } });
    expect(error.originalError?.message).toBe('subgraph "catalog" (http://catalog:4001/graphql) answered 401: {"errors":[{"message":"no"}]}');
  });

  it('refuses an answer that is not a JSON object', async () => {
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', recording({ headers: { 'content-type': 'text/plain' }, body: 'hello' }).client);
    await expect(source.process(options({}))).rejects.toThrow('Expected JSON response body, but received: hello');
  });

  it('narrows the response cache policy by the subgraph’s Cache-Control', async () => {
    const hints: unknown[] = [];
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', recording({ headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60, private' } }).client);
    await source.process(options({}, (hint) => hints.push(hint)));
    expect(hints).toEqual([{ maxAge: 60, scope: 'PRIVATE' }]);
  });
});

describe('subgraphDataSource with batching', () => {
  /** A subgraph that answers each operation of a request with its own query text, as Apollo Server's batching does. */
  function batchingSubgraph(answer?: (bodies: unknown[]) => Partial<HttpResponse>) {
    const requests: unknown[] = [];
    const client: HttpClient = {
      post: async (_url, _headers, body) => {
        const parsed = JSON.parse(body) as unknown;
        requests.push(parsed);
        const each = (one: unknown) => ({ data: { query: (one as { query: string }).query } });
        const json = Array.isArray(parsed) ? parsed.map(each) : each(parsed);
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(json), ...answer?.(Array.isArray(parsed) ? parsed : [parsed]) };
      },
      release: () => {},
      close: () => {},
    };
    return { client, requests };
  }
  const fetch = (query: string, context: object): Options => ({ kind: 'incoming operation', request: { query, variables: {} }, context }) as unknown as Options;
  const run = (source: ReturnType<typeof subgraphDataSource>, queries: string[], context: object) => Promise.allSettled(queries.map((query) => source.process(fetch(query, context))));
  const values = (settled: PromiseSettledResult<unknown>[]) => settled.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message));

  it('sends the fetches one operation starts in the same tick as one request, each answered with its own result', async () => {
    const { client, requests } = batchingSubgraph();
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', client, {}, { maxSize: 10 });
    const caller = { authorization: 'Bearer t' };
    expect(values(await run(source, ['{ a }', '{ b }', '{ c }'], caller))).toEqual([{ data: { query: '{ a }' } }, { data: { query: '{ b }' } }, { data: { query: '{ c }' } }]);
    expect(requests).toEqual([[{ query: '{ a }', variables: {} }, { query: '{ b }', variables: {} }, { query: '{ c }', variables: {} }]]);

    // Alone in its tick: a plain request. Another operation's fetches: a request of their own.
    requests.length = 0;
    await source.process(fetch('{ d }', caller));
    await Promise.all([run(source, ['{ e }'], caller), run(source, ['{ f }'], { authorization: 'Bearer u' })]);
    expect(requests).toEqual([{ query: '{ d }', variables: {} }, { query: '{ e }', variables: {} }, { query: '{ f }', variables: {} }]);
  });

  it('puts at most maxSize fetches in a request, and sends a fetch with other headers alone', async () => {
    const { client, requests } = batchingSubgraph();
    const source = subgraphDataSource('catalog', 'http://catalog:4001/graphql', client, {}, { maxSize: 2 });
    const settled = await run(source, ['{ a }', '{ b }', '{ c }'], {});
    expect(values(settled)).toEqual([{ data: { query: '{ a }' } }, { data: { query: '{ b }' } }, { data: { query: '{ c }' } }]);
    expect(requests.map((request) => (Array.isArray(request) ? request.length : 1))).toEqual([2, 1]);

    requests.length = 0;
    const caller = {};
    const withHeader = (query: string, name: string, value: string) => ({ ...fetch(query, caller), request: { query, variables: {}, http: { headers: new Map([[name, value]]) } } }) as unknown as Options;
    await Promise.all([source.process(fetch('{ a }', caller)), source.process(withHeader('{ h }', 'x-tenant', 'b')), source.process(fetch('{ b }', caller))]);
    expect(requests).toEqual([{ query: '{ h }', variables: {} }, [{ query: '{ a }', variables: {} }, { query: '{ b }', variables: {} }]]);
    // Each fetch's own span aside: a batch carries its first fetch's trace context.
    requests.length = 0;
    await Promise.all([source.process(withHeader('{ a }', 'traceparent', '00-a')), source.process(withHeader('{ b }', 'traceparent', '00-b'))]);
    expect(requests).toEqual([[{ query: '{ a }', variables: {} }, { query: '{ b }', variables: {} }]]);
  });

  it('answers each fetch from an error status whose array still answers each operation; fails them all otherwise', async () => {
    const refused = batchingSubgraph(() => ({ status: 400, body: JSON.stringify([{ data: { a: 1 } }, { errors: [{ message: 'no', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] }]) }));
    const partly = subgraphDataSource('catalog', 'http://catalog:4001/graphql', refused.client, {}, { maxSize: 10 });
    expect(values(await run(partly, ['{ a }', '{ nope }'], {}))).toEqual([{ data: { a: 1 } }, { errors: [{ message: 'no', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] }]);

    const unauthorized = subgraphDataSource('catalog', 'http://catalog:4001/graphql', batchingSubgraph(() => ({ status: 401, body: 'Unauthorized' })).client, {}, { maxSize: 10 });
    expect(values(await run(unauthorized, ['{ a }', '{ b }'], {}))).toEqual(['401: Unauthorized', '401: Unauthorized']);

    const short = subgraphDataSource('catalog', 'http://catalog:4001/graphql', batchingSubgraph(() => ({ body: '[{"data":{}}]' })).client, {}, { maxSize: 10 });
    expect(values(await run(short, ['{ a }', '{ b }'], {}))).toEqual(Array(2).fill('Expected a JSON array of 2 results to a batched request, but received: [{"data":{}}]'));

    const down: HttpClient = { post: () => Promise.reject(new Error('ECONNREFUSED')), release: () => {}, close: () => {} };
    const unavailable = subgraphDataSource('catalog', 'http://catalog:4001/graphql', down, {}, { maxSize: 10 });
    expect(values(await run(unavailable, ['{ a }', '{ b }'], {}))).toEqual(Array(2).fill('Subgraph "catalog" is unavailable'));
  });
});
