import { messagingEntities } from '@shopgraph/kit';
import { DeliveredOrder } from './delivered-order.entity.ts';
import { ProductRating } from './product-rating.entity.ts';
import { PurchasedLine } from './purchased-line.entity.ts';
import { Review } from './review.entity.ts';

export { DeliveredOrder, ProductRating, PurchasedLine, Review };
/** Reviews' own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const domainEntities = [Review, ProductRating, PurchasedLine, DeliveredOrder];
export const entities = [...domainEntities, ...messagingEntities];
