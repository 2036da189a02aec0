import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { DomainError, isUuid, recordEvent, Scope, type EntityManager, type Identity } from '@shopgraph/kit';
import { ProductRating } from '../entities/product-rating.entity.ts';
import { Review } from '../entities/review.entity.ts';
import { PurchasesService } from './purchases.service.ts';

export const MAX_TITLE_LENGTH = 200;
export const MAX_BODY_LENGTH = 10_000;
export const MAX_REASON_LENGTH = 500;
export const MAX_PAGE_SIZE = 50;

export const REVIEW_SORTS = ['NEWEST', 'HIGHEST', 'LOWEST'] as const;
export type ReviewSort = (typeof REVIEW_SORTS)[number];

/** What a product's visible reviews add up to. `distribution[i]` counts the reviews of i + 1 stars. */
export interface RatingView {
  average: number | null;
  count: number;
  distribution: number[];
}

export interface ReviewPage {
  reviews: Review[];
  hasNextPage: boolean;
}

export interface AddReviewInput {
  productId: string;
  rating: number;
  title: string;
  body: string;
}

export interface UpdateReviewInput {
  reviewId: string;
  rating?: number | null;
  title?: string | null;
  body?: string | null;
}

export const NO_RATING: RatingView = { average: null, count: 0, distribution: [0, 0, 0, 0, 0] };

/** A rating from its counts by stars (1 to 5). */
export function ratingOf(distribution: readonly number[]): RatingView {
  const count = distribution.reduce((sum, n) => sum + n, 0);
  const stars = distribution.reduce((sum, n, i) => sum + n * (i + 1), 0);
  return { average: count ? stars / count : null, count, distribution: [...distribution] };
}

type StarCounts = Pick<ProductRating, 'stars1' | 'stars2' | 'stars3' | 'stars4' | 'stars5'>;
const countsOf = (row: StarCounts): number[] => [row.stars1, row.stars2, row.stars3, row.stars4, row.stars5];

/** Staff, and a review's author, see a hidden review and why it was hidden. */
export function canSeeHidden(viewer: Identity | null, review: Pick<Review, 'authorId'>): boolean {
  return !!viewer && (viewer.scopes.has(Scope.STAFF) || viewer.userId.toLowerCase() === review.authorId);
}

// Line breaks and tabs belong in a body; other control characters (NUL above all, which Postgres
// refuses in text) belong in no review.
const CONTROL = /\p{Cc}/u;
const CONTROL_BUT_LAYOUT = /[^\P{Cc}\n\r\t]/u;

export function checkRating(rating: number): number {
  if (!Number.isInteger(rating) || rating < 1 || rating > 5) throw new DomainError('INVALID_RATING', 'rating must be a whole number of stars from 1 to 5', ['input', 'rating']);
  return rating;
}

/** The title as stored: trimmed. */
export function checkTitle(title: string): string {
  const trimmed = title.trim();
  if (!trimmed || trimmed.length > MAX_TITLE_LENGTH) throw new DomainError('INVALID_TITLE', `title must be 1–${MAX_TITLE_LENGTH} characters`, ['input', 'title']);
  if (CONTROL.test(trimmed)) throw new DomainError('INVALID_TITLE', 'title must not contain control characters', ['input', 'title']);
  return trimmed;
}

/** The body as stored: trimmed (it may be empty). */
export function checkBody(body: string): string {
  const trimmed = body.trim();
  if (trimmed.length > MAX_BODY_LENGTH) throw new DomainError('INVALID_BODY', `body must be at most ${MAX_BODY_LENGTH} characters`, ['input', 'body']);
  if (CONTROL_BUT_LAYOUT.test(trimmed)) throw new DomainError('INVALID_BODY', 'body must not contain control characters other than line breaks and tabs', ['input', 'body']);
  return trimmed;
}

/** Cursor over reviews in one sort: the sort and the last review's place in it; opaque to clients. */
export function encodeCursor(sort: ReviewSort, review: Pick<Review, 'rating' | 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([sort, review.rating, review.createdAt.toISOString(), review.id])).toString('base64url');
}

export function decodeCursor(cursor: string, sort: ReviewSort): { rating: number; createdAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 4 && value[0] === sort && Number.isInteger(value[1]) && typeof value[2] === 'string' && typeof value[3] === 'string' && isUuid(value[3])) {
      const createdAt = new Date(value[2]);
      if (!Number.isNaN(createdAt.getTime())) return { rating: value[1] as number, createdAt, id: value[3] };
    }
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'after is not a cursor this API returned for this sort', ['after']);
}

function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${MAX_PAGE_SIZE}`, ['first']);
  return first;
}

const ORDER: Record<ReviewSort, Record<string, 'asc' | 'desc'>> = {
  NEWEST: { createdAt: 'desc', id: 'desc' },
  HIGHEST: { rating: 'desc', createdAt: 'desc', id: 'desc' },
  LOWEST: { rating: 'asc', createdAt: 'desc', id: 'desc' },
};

/** The reviews after a cursor in its sort (newest first among equal ratings). */
function after(sort: ReviewSort, cursor: string | null | undefined): object {
  if (!cursor) return {};
  const { rating, createdAt, id } = decodeCursor(cursor, sort);
  const older = { $or: [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }] };
  if (sort === 'NEWEST') return older;
  return { $or: [{ rating: sort === 'HIGHEST' ? { $lt: rating } : { $gt: rating } }, { rating, ...older }] };
}

const reviewNotFound = () => new DomainError('REVIEW_NOT_FOUND', 'No such review of yours', ['input', 'reviewId']);
const reviewExists = () => new DomainError('REVIEW_EXISTS', 'You have reviewed this product already: update that review instead', ['input', 'productId']);

/**
 * Business rules of reviews; the only code that changes reviews and ratings and records their
 * events. Every change of a visible review's stars changes its product's rating in the same
 * transaction, and records `reviews.product.rated` with the figures it left.
 */
export class ReviewsService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** The ratings of products, by product id (products without reviews are missing). */
  async ratings(productIds: readonly string[]): Promise<Map<string, RatingView>> {
    const valid = [...new Set(productIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const rows = valid.length ? await this.em.find(ProductRating, { productId: { $in: valid } }) : [];
    return new Map(rows.map((row) => [row.productId, ratingOf(countsOf(row))]));
  }

  /** A product's visible reviews, `first` at a time after a cursor of the same sort. */
  async productReviews(productId: string, first: number, cursor: string | null | undefined, sort: ReviewSort): Promise<ReviewPage> {
    const size = pageSize(first);
    const where = after(sort, cursor);
    if (!isUuid(productId)) return { reviews: [], hasNextPage: false };
    const rows = await this.em.find(Review, { productId: productId.toLowerCase(), hiddenAt: null, ...where }, { orderBy: ORDER[sort], limit: size + 1 });
    return { reviews: rows.slice(0, size), hasNextPage: rows.length > size };
  }

  /** A user's reviews, newest first; those staff hid only when `withHidden`. */
  async userReviews(userId: string, first: number, cursor: string | null | undefined, withHidden: boolean): Promise<ReviewPage & { totalCount: number }> {
    const size = pageSize(first);
    const where = after('NEWEST', cursor);
    if (!isUuid(userId)) return { reviews: [], hasNextPage: false, totalCount: 0 };
    const own = { authorId: userId.toLowerCase(), ...(withHidden ? {} : { hiddenAt: null }) };
    const [rows, totalCount] = await Promise.all([
      this.em.find(Review, { ...own, ...where }, { orderBy: ORDER.NEWEST, limit: size + 1 }),
      this.em.count(Review, own),
    ]);
    return { reviews: rows.slice(0, size), hasNextPage: rows.length > size, totalCount };
  }

  /** A review of a product the author has received; one per author and product. */
  async addReview(authorId: string, input: AddReviewInput): Promise<Review> {
    const rating = checkRating(input.rating);
    const title = checkTitle(input.title);
    const body = checkBody(input.body);
    if (!isUuid(input.productId)) throw new DomainError('PRODUCT_NOT_FOUND', 'No such product', ['input', 'productId']);
    const productId = input.productId.toLowerCase();
    const author = authorId.toLowerCase();
    try {
      return await this.em.transactional(async (em) => {
        if (!(await new PurchasesService(em).received(author, productId))) {
          throw new DomainError('NOT_A_BUYER', 'Only a customer who has received this product may review it', ['input', 'productId']);
        }
        if (await em.count(Review, { authorId: author, productId })) throw reviewExists();
        const now = new Date();
        const review = em.create(Review, { id: crypto.randomUUID(), productId, authorId: author, rating, title, body, verifiedPurchase: true, createdAt: now, updatedAt: now });
        // Inserted first: a concurrent second review by the author fails here, before any count moves.
        await em.flush();
        await this.rate(em, productId, { [rating]: 1 });
        return review;
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException && (error as { constraint?: string }).constraint === 'review_author_id_product_id_unique') throw reviewExists();
      throw error;
    }
  }

  /** Changes the given fields of the author's own review. */
  async updateReview(authorId: string, input: UpdateReviewInput): Promise<Review> {
    const rating = input.rating == null ? null : checkRating(input.rating);
    const title = input.title == null ? null : checkTitle(input.title);
    const body = input.body == null ? null : checkBody(input.body);
    return this.em.transactional(async (em) => {
      const review = await this.ownReview(em, authorId, input.reviewId);
      const before = review.rating;
      if (rating !== null) review.rating = rating;
      if (title !== null) review.title = title;
      if (body !== null) review.body = body;
      await em.flush();
      if (!review.hiddenAt && review.rating !== before) await this.rate(em, review.productId, { [before]: -1, [review.rating]: 1 });
      return review;
    });
  }

  /** Deletes the author's own review; returns its id. */
  async deleteReview(authorId: string, reviewId: string): Promise<string> {
    return this.em.transactional(async (em) => {
      const review = await this.ownReview(em, authorId, reviewId);
      em.remove(review);
      await em.flush();
      if (!review.hiddenAt) await this.rate(em, review.productId, { [review.rating]: -1 });
      return review.id;
    });
  }

  /** Staff: takes a review out of its product's listing and rating, saying why to its author. */
  async hideReview(reviewId: string, reason: string): Promise<Review> {
    const why = reason.trim();
    if (!why || why.length > MAX_REASON_LENGTH || CONTROL.test(why)) throw new DomainError('INVALID_REASON', `reason must be 1–${MAX_REASON_LENGTH} characters of text`, ['input', 'reason']);
    if (!isUuid(reviewId)) throw reviewNotFound();
    return this.em.transactional(async (em) => {
      const review = await em.findOne(Review, { id: reviewId.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!review) throw reviewNotFound();
      const wasVisible = !review.hiddenAt;
      review.hiddenReason = why;
      review.hiddenAt ??= new Date();
      await em.flush();
      if (wasVisible) await this.rate(em, review.productId, { [review.rating]: -1 });
      return review;
    });
  }

  /** The author's review, locked for the change; someone else's reads as none (ids cannot be probed). */
  private async ownReview(em: EntityManager, authorId: string, reviewId: string): Promise<Review> {
    if (!isUuid(reviewId)) throw reviewNotFound();
    const review = await em.findOne(Review, { id: reviewId.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!review || review.authorId !== authorId.toLowerCase()) throw reviewNotFound();
    return review;
  }

  /**
   * Moves a product's counts by stars (`delta` by number of stars) in one atomic statement, and
   * records the rating it leaves. The statement holds the product's row lock until the transaction
   * ends, so concurrent reviews of a product take turns here, and their events are recorded in
   * commit order. Only an addition can meet no row yet: it upserts; a removal updates the row the
   * review's addition made (a proposed insert row is checked against the constraints, even one that
   * conflicts, so a negative count may not be upserted).
   */
  private async rate(em: EntityManager, productId: string, delta: Partial<Record<number, number>>): Promise<void> {
    const by = [1, 2, 3, 4, 5].map((stars) => delta[stars] ?? 0);
    const columns = by.map((_, i) => `stars${i + 1}`);
    const [row] = by.every((n) => n >= 0)
      ? await em.execute<StarCounts[]>(
          `insert into product_rating (product_id, ${columns.join(', ')}) values (?, ?, ?, ?, ?, ?)
           on conflict (product_id) do update set ${columns.map((c) => `${c} = product_rating.${c} + excluded.${c}`).join(', ')}
           returning ${columns.join(', ')}`,
          [productId, ...by],
        )
      : await em.execute<StarCounts[]>(
          `update product_rating set ${columns.map((c) => `${c} = ${c} + ?`).join(', ')} where product_id = ? returning ${columns.join(', ')}`,
          [...by, productId],
        );
    const { average, count } = ratingOf(countsOf(row!));
    recordEvent(em, 'reviews.product.rated', productId, { productId, average, count });
    await em.flush();
  }
}
