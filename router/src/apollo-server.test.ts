import { ApolloServer, type ApolloServerOptionsWithGateway, type BaseContext } from '@apollo/server';
import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';

// The router runs @apollo/server with patches/@apollo+server+*.patch applied (npm's postinstall):
// the request context handed to a gateway's executor gets its `response.http` status accessors
// from a class, so every request's object shares one prototype (see the patch for why).
describe('@apollo/server, as the router runs it', () => {
  it('hands the executor a response whose status accessors come from a shared class, and that still set the status', async () => {
    const schema = buildSchema('type Query { a: Int }');
    const seen: Array<{ response: { http: { status?: number } } }> = [];
    const gateway: ApolloServerOptionsWithGateway<BaseContext>['gateway'] = {
      onSchemaLoadOrUpdate(listener) {
        listener({ apiSchema: schema, coreSupergraphSdl: '' });
        return () => {};
      },
      async load() {
        return {
          executor: async (requestContext) => {
            seen.push(requestContext as never);
            requestContext.response!.http!.status = 203;
            return { data: { a: 1 } };
          },
        };
      },
      async stop() {},
    };
    const apollo = new ApolloServer({ gateway });
    await apollo.start();
    try {
      const answers = [await apollo.executeOperation({ query: '{ a }' }), await apollo.executeOperation({ query: '{ a }' })];
      expect(answers.map((answer) => answer.http.status)).toEqual([203, 203]);
      const [first, second] = seen.map(({ response }) => response.http);
      expect(Object.getOwnPropertyDescriptor(first!, 'status')).toBeUndefined();
      expect(Object.getPrototypeOf(first)).not.toBe(Object.prototype);
      expect(Object.getPrototypeOf(first)).toBe(Object.getPrototypeOf(second));
    } finally {
      await apollo.stop();
    }
  });
});
