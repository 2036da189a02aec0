import type { EventData } from '@shopgraph/events';

// A product as the index holds it: catalog's fields, inventory's and reviews', each group written by
// its own owner's events. Groups are written as partial updates that merge into the document, so neither
// owner's write ever removes the other's fields, whichever arrives first.

/** Catalog's fields of a product (catalog.product.changed carries them all). */
export interface CatalogFields {
  id: string;
  sku: string;
  name: string;
  description: string;
  categoryId: string | null;
  /** Minor units of the store's one currency. */
  price: { amount: number; currency: string };
  /** What the name is completed from as one types (see `suggestInputs`). */
  suggest: { input: string[] };
}

/** Inventory's field of a product. */
export interface StockFields {
  id: string;
  inStock: boolean;
}

/** Reviews' field of a product: its rating as the latest `reviews.product.rated` left it. */
export interface RatingFields {
  id: string;
  /** `average` is null while the product has no (visible) reviews. */
  rating: { average: number | null; count: number };
}

/** A product never rated has no `rating` (it sorts and filters as unrated). */
export type ProductDocument = CatalogFields & StockFields & Partial<Pick<RatingFields, 'rating'>>;

/** A partial update of one product's document: the fields given replace those indexed. */
export interface DocumentChange {
  id: string;
  fields: Partial<ProductDocument> & { id: string };
}

/** A product as its owners describe it, for a full rebuild: catalog's fields with inventory's flag. */
export type ProductSnapshot = ProductDocument;

/** Whole words of the name from each position on, so "Trail running shoes" completes "run…" and "sho…" too. */
export function suggestInputs(name: string): string[] {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return [...new Set(words.slice(0, 10).map((_, i) => words.slice(i).join(' ')))];
}

export function catalogFields(product: EventData<'catalog.product.changed'>): CatalogFields {
  const id = product.productId.toLowerCase();
  return {
    id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    categoryId: product.categoryId?.toLowerCase() ?? null,
    price: { amount: product.price.amount, currency: product.price.currency },
    suggest: { input: suggestInputs(product.name) },
  };
}

export function stockFields(level: EventData<'inventory.stock.level-changed'>): StockFields {
  return { id: level.productId.toLowerCase(), inStock: level.inStock };
}

export function ratingFields(rated: EventData<'reviews.product.rated'>): RatingFields {
  return { id: rated.productId.toLowerCase(), rating: { average: rated.average, count: rated.count } };
}

/**
 * The changes of one batch as one change per product, in order: a later change's fields win,
 * and fields only an earlier change set are kept.
 */
export function mergeChanges(changes: readonly DocumentChange[]): DocumentChange[] {
  const byId = new Map<string, DocumentChange['fields']>();
  for (const { id, fields } of changes) byId.set(id, { ...byId.get(id), ...fields });
  return [...byId].map(([id, fields]) => ({ id, fields }));
}
