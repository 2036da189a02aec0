import { sleep } from '@shopgraph/kit';
import type { ProductSnapshot } from './product-document.ts';

/** An index being filled while the current one serves, until `swap` makes it the one searches read. */
export interface IndexRebuild {
  readonly index: string;
  /** Adds products from the source of truth, keeping whatever the consumer wrote since the rebuild began. */
  fill(products: readonly ProductSnapshot[]): Promise<void>;
  /** Makes this index the one searches read, atomically; returns the indices it replaced. */
  swap(): Promise<string[]>;
  /** Drops the half-built index (the current one keeps serving). */
  abandon(): Promise<void>;
}

export interface RebuildableIndex {
  startRebuild(): Promise<IndexRebuild>;
  drop(indices: readonly string[]): Promise<void>;
}

export interface RebuildOptions {
  index: RebuildableIndex;
  /**
   * Every product, page by page, from their owners. Called once the rebuild has begun, so that
   * what it reads was committed after the consumer started writing to the new index too.
   */
  products: () => AsyncIterable<ProductSnapshot[]>;
  /** How long the replaced index outlives the swap, so searches already sent to it finish. */
  drainMs: number;
  onProgress?: (copied: number) => void;
}

export interface RebuildResult {
  index: string;
  products: number;
  replaced: string[];
}

/**
 * Rebuilds the product index from the source of truth into a new index and swaps searches over
 * to it; searches are served by the old index until the swap, by the new one after. A failure
 * before the swap drops the new index and leaves the old one serving.
 */
export async function rebuildIndex({ index, products, drainMs, onProgress }: RebuildOptions): Promise<RebuildResult> {
  const rebuild = await index.startRebuild();
  let copied = 0;
  let replaced: string[];
  try {
    for await (const page of products()) {
      await rebuild.fill(page);
      copied += page.length;
      onProgress?.(copied);
    }
    replaced = await rebuild.swap();
  } catch (error) {
    await rebuild.abandon().catch(() => {});
    throw error;
  }
  await sleep(drainMs);
  await index.drop(replaced);
  return { index: rebuild.index, products: copied, replaced };
}
