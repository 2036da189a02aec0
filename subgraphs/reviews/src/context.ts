import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { NO_RATING, ReviewsService, type RatingView } from './domain/reviews.service.ts';

export interface ReviewsContext extends RequestContext {
  reviews: ReviewsService;
  /** Batches the rating lookups of one request (every Product of a list): one query per batch. */
  ratings: DataLoader<string, RatingView>;
}

export function reviewsContext({ identity, em }: RequestInput<unknown>): ReviewsContext {
  const reviews = new ReviewsService(em);
  return { identity, reviews, ratings: batchLoader((ids) => reviews.ratings(ids), NO_RATING) };
}
