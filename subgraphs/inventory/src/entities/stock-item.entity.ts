import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

/**
 * The stock of one product. `available = on_hand - reserved`; reservations (the checkout saga)
 * move units into `reserved`, shipping takes them out of both. The checks are the last line of
 * defence: every write is a single guarded statement (see InventoryService).
 */
export const StockItem = defineEntity({
  name: 'StockItem',
  properties: {
    /** Catalog's product id; inventory does not own products, so there is no foreign key. */
    productId: p.uuid().primary(),
    onHand: p.integer().check('on_hand >= 0'),
    reserved: p.integer().default(0).check('reserved >= 0'),
    /** Below this many available units, staff are alerted (`inventory.stock.low`); 0 turns the alert off. */
    lowStockThreshold: p.integer().default(5).check('low_stock_threshold >= 0'),
    /** Bumped by every write, so consumers can order and deduplicate changes. */
    version: p.integer().version(),
    updatedAt: p.datetime().defaultRaw('now()').onUpdate(() => new Date()),
  },
  checks: [{ name: 'stock_item_reserved_within_on_hand_check', expression: 'reserved <= on_hand' }],
});
export type StockItem = InferEntity<typeof StockItem>;
