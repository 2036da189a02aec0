import { DateTimeScalar, payload, type GraphQLResolverMap } from '@shopgraph/kit';
import { canSeeHidden, encodeCursor, type AddReviewInput, type ReviewPage, type ReviewSort, type UpdateReviewInput } from '../domain/reviews.service.ts';
import type { Review } from '../entities/index.ts';
import type { ReviewsContext } from '../context.ts';

const connection = (sort: ReviewSort, page: ReviewPage, totalCount: number) => {
  const edges = page.reviews.map((node) => ({ cursor: encodeCursor(sort, node), node }));
  return { edges, totalCount, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
};

/** The signed-in caller (`@authenticated` has let only them through). */
const callerOf = ({ identity }: ReviewsContext): string => identity!.userId;

interface PageArgs {
  first: number;
  after?: string | null;
}

export const resolvers: GraphQLResolverMap<ReviewsContext> = {
  DateTime: DateTimeScalar,
  Mutation: {
    addReview: (_: unknown, { input }: { input: AddReviewInput }, context: ReviewsContext) =>
      payload(async () => ({ review: await context.reviews.addReview(callerOf(context), input) })),
    updateReview: (_: unknown, { input }: { input: UpdateReviewInput }, context: ReviewsContext) =>
      payload(async () => ({ review: await context.reviews.updateReview(callerOf(context), input) })),
    deleteReview: (_: unknown, { input }: { input: { reviewId: string } }, context: ReviewsContext) =>
      payload(async () => ({ reviewId: await context.reviews.deleteReview(callerOf(context), input.reviewId) })),
    hideReview: (_: unknown, { input }: { input: { reviewId: string; reason: string } }, { reviews }: ReviewsContext) =>
      payload(async () => ({ review: await reviews.hideReview(input.reviewId, input.reason) })),
  },
  Product: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    rating: ({ id }: { id: string }, _: unknown, { ratings }: ReviewsContext) => ratings.load(id),
    reviews: async ({ id }: { id: string }, args: PageArgs & { sort: ReviewSort }, { reviews, ratings }: ReviewsContext) => {
      // The visible reviews are what the rating counts: its count is the total, batched with the ratings.
      const [page, rating] = await Promise.all([reviews.productReviews(id, args.first, args.after, args.sort), ratings.load(id)]);
      return connection(args.sort, page, rating.count);
    },
  },
  User: {
    __resolveReference: ({ id }: { id: string }) => ({ id }),
    reviews: async ({ id }: { id: string }, args: PageArgs, { reviews, identity }: ReviewsContext) => {
      const page = await reviews.userReviews(id, args.first, args.after, canSeeHidden(identity, { authorId: id.toLowerCase() }));
      return connection('NEWEST', page, page.totalCount);
    },
  },
  Review: {
    author: (review: Review) => ({ id: review.authorId }),
    product: (review: Review) => ({ id: review.productId }),
    hiddenReason: (review: Review, _: unknown, { identity }: ReviewsContext) => (canSeeHidden(identity, review) ? review.hiddenReason : null),
  },
};
