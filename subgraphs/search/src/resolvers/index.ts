import type { GraphQLResolverMap } from '@shopgraph/kit';
import { GraphQLError } from 'graphql';
import { SearchUnavailable, type SearchProductsArgs, type SearchSuggestionsArgs } from '../domain/search.service.ts';
import type { SearchContext } from '../context.ts';

/** Elasticsearch being away is the client's to retry, under a stable code and a message of ours (never the engine's). */
async function answer<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof SearchUnavailable) throw new GraphQLError(error.message, { extensions: { code: 'SEARCH_UNAVAILABLE' } });
    throw error;
  }
}

export const resolvers: GraphQLResolverMap<SearchContext> = {
  Query: {
    searchProducts: (_: unknown, args: SearchProductsArgs, { search }: SearchContext) => answer(() => search.searchProducts(args)),
    searchSuggestions: (_: unknown, args: SearchSuggestionsArgs, { search }: SearchContext) => answer(() => search.suggestions(args)),
  },
};
