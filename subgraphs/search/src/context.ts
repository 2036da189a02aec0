import type { RequestContext, RequestInput } from '@shopgraph/kit';
import type { SearchService } from './domain/search.service.ts';

export interface SearchContext extends RequestContext {
  search: SearchService;
}

/** Search needs no database per request: every request shares the one service over the index. */
export const searchContext =
  (search: SearchService) =>
  ({ identity }: RequestInput<unknown>): SearchContext => ({ identity, search });
