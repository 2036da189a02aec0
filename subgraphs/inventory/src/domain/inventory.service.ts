import { CheckConstraintViolationException, DriverException } from '@mikro-orm/core';
import { DomainError, isUuid, recordEvent, type EntityManager } from '@shopgraph/kit';
import { StockItem } from '../entities/stock-item.entity.ts';

/** The stock of one product as the last statement that touched it left it. */
export interface StockLevel {
  productId: string;
  onHand: number;
  reserved: number;
}

/** What can be sold now: units on hand that no order holds. */
export const availableOf = (level: StockLevel | null | undefined): number => (level ? level.onHand - level.reserved : 0);

/**
 * Records `inventory.stock.level-changed` for a product's stock as the caller's transaction left
 * it (`available`: units on hand that no order holds), for read models such as search's in-stock
 * flag. Recorded by every staff count and, from the saga, only when a change flips `inStock`: the
 * saga moves units hundreds of times a second, and what can be sold right now is served live by
 * inventory itself (Product.availableQuantity), so readers of the event need the flips only.
 */
export function recordStockLevel(em: EntityManager, productId: string, available: number): void {
  const id = productId.toLowerCase();
  const availableQuantity = Math.max(0, available);
  recordEvent(em, 'inventory.stock.level-changed', id, { productId: id, availableQuantity, inStock: availableQuantity > 0 });
}

/**
 * Records `inventory.stock.low` when a change took a product's available units from at or above
 * its threshold to below it: once per crossing, so a product selling its last units one by one
 * alerts once, and again only after it was restocked to the threshold or above.
 */
export function recordLowStock(em: EntityManager, productId: string, change: { before: number; after: number; threshold: number }): void {
  if (!(change.before >= change.threshold && change.after < change.threshold)) return;
  const id = productId.toLowerCase();
  recordEvent(em, 'inventory.stock.low', id, { productId: id, availableQuantity: Math.max(0, change.after), threshold: change.threshold });
}

interface StockRow {
  product_id: string;
  on_hand: number;
  reserved: number;
  low_stock_threshold: number;
  /** What was available before the change, where it can take stock down (null: no row before). */
  previous_available?: number | null;
}

const toLevel = (row: StockRow): StockLevel => ({ productId: row.product_id, onHand: row.on_hand, reserved: row.reserved });

// Each write is one statement: Postgres takes the row lock, re-checks the guard in WHERE against the
// latest committed row (READ COMMITTED re-evaluation) and writes, so concurrent changes never lose
// an update and never read-modify-write. The table's CHECK constraints back the guards up.
const SET_STOCK = `
  insert into stock_item as s (product_id, on_hand) values (?, ?)
  on conflict (product_id) do update
    set on_hand = excluded.on_hand, version = s.version + 1, updated_at = now()
    where s.reserved <= excluded.on_hand
  returning product_id, on_hand, reserved, low_stock_threshold`;

// What a count replaces: read (and locked) in its transaction first, for the low-stock alert.
const LOCK_AVAILABLE = 'select on_hand - reserved as available from stock_item where product_id = ? for update';

const RECEIVE_STOCK = `
  insert into stock_item as s (product_id, on_hand) values (?, ?)
  on conflict (product_id) do update
    set on_hand = s.on_hand + excluded.on_hand, version = s.version + 1, updated_at = now()
  returning product_id, on_hand, reserved, low_stock_threshold`;

// on_hand + delta >= reserved also keeps on_hand >= 0, since reserved >= 0.
const REMOVE_STOCK = `
  update stock_item
    set on_hand = on_hand + ?, version = version + 1, updated_at = now()
    where product_id = ? and on_hand + ? >= reserved
  returning product_id, on_hand, reserved, low_stock_threshold, on_hand - ? - reserved as previous_available`;

/**
 * Business rules of stock levels; the only code that changes them.
 *
 * Inventory does not own products (catalog does) and cannot know whether one exists: it keeps
 * stock for any well-formed product id, and an id it has never seen simply has none.
 */
export class InventoryService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    this.em = em;
  }

  /** The stock of each product found, keyed by lower-case id, in one query; malformed ids have none. */
  async stockLevels(productIds: readonly string[]): Promise<Map<string, StockLevel>> {
    const ids = [...new Set(productIds.filter(isUuid).map((id) => id.toLowerCase()))];
    if (!ids.length) return new Map();
    const items = await this.em.find(StockItem, { productId: { $in: ids } }, { disableIdentityMap: true });
    return new Map(items.map((item) => [item.productId.toLowerCase(), { productId: item.productId, onHand: item.onHand, reserved: item.reserved }]));
  }

  /** Sets the units on hand (a stock count); refused below what orders have reserved. */
  async setStock(input: { productId: string; quantity: number }): Promise<StockLevel> {
    const productId = validProductId(input.productId);
    if (!Number.isSafeInteger(input.quantity) || input.quantity < 0) throw new DomainError('INVALID_QUANTITY', 'Quantity must be zero or more', ['input', 'quantity']);
    const belowReserved = new DomainError('BELOW_RESERVED', 'Quantity is below the units reserved for orders', ['input', 'quantity']);
    return this.write(SET_STOCK, [productId, input.quantity], {
      stock_item_on_hand_check: new DomainError('INVALID_QUANTITY', 'Quantity must be zero or more', ['input', 'quantity']),
      stock_item_reserved_within_on_hand_check: belowReserved,
      // No row: the product exists and its guard (reserved <= quantity) refused the update.
      noRow: belowReserved,
    }, ['input', 'quantity'], productId);
  }

  /**
   * Adds (receiving) or removes (shrinkage, damage) units relative to the current count, so
   * concurrent changes compose; a removal may not take on-hand below zero or below what is reserved.
   */
  async adjustStock(input: { productId: string; delta: number }): Promise<StockLevel> {
    const productId = validProductId(input.productId);
    if (!Number.isSafeInteger(input.delta)) throw new DomainError('INVALID_QUANTITY', 'Delta must be a whole number', ['input', 'delta']);
    const insufficient = new DomainError('INSUFFICIENT_STOCK', 'Not enough unreserved stock to remove that many units', ['input', 'delta']);
    // No row: unknown product (nothing to remove) or the guard refused the removal.
    const errors = { stock_item_on_hand_check: insufficient, stock_item_reserved_within_on_hand_check: insufficient, noRow: insufficient };
    return input.delta >= 0
      ? this.write(RECEIVE_STOCK, [productId, input.delta], errors, ['input', 'delta'])
      : this.write(REMOVE_STOCK, [input.delta, productId, input.delta, input.delta], errors, ['input', 'delta']);
  }

  /**
   * Sets the available units under which staff are alerted (0: never). It alerts on the next
   * change that crosses it, not on being set. A product not stocked yet gets a row with none on hand.
   */
  async setLowStockThreshold(input: { productId: string; threshold: number }): Promise<{ productId: string; threshold: number }> {
    const productId = validProductId(input.productId);
    if (!Number.isSafeInteger(input.threshold) || input.threshold < 0 || input.threshold > 2_147_483_647) throw new DomainError('INVALID_THRESHOLD', 'Threshold must be zero or more', ['input', 'threshold']);
    await this.em.execute(
      `insert into stock_item as s (product_id, on_hand, low_stock_threshold) values (?, 0, ?)
       on conflict (product_id) do update set low_stock_threshold = excluded.low_stock_threshold, version = s.version + 1, updated_at = now()`,
      [productId, input.threshold],
    );
    return { productId, threshold: input.threshold };
  }

  /**
   * Runs one write and records the level it left, in one transaction. A violated CHECK (the last
   * line of defence), no row and int overflow become typed errors. `lockFirst`: the product whose
   * available units are read (and locked) before a statement that cannot tell what they were.
   */
  private write(sql: string, params: unknown[], errors: Record<string, DomainError> & { noRow: DomainError }, field: string[], lockFirst?: string): Promise<StockLevel> {
    return this.em.transactional(async (em) => {
      const [previous] = lockFirst ? await this.run<{ available: number }>(em, LOCK_AVAILABLE, [lockFirst], errors, field) : [];
      const [row] = await this.run(em, sql, params, errors, field);
      if (!row) throw errors.noRow;
      if (previous) row.previous_available = previous.available;
      const level = toLevel(row);
      recordStockLevel(em, level.productId, availableOf(level));
      if (row.previous_available != null) recordLowStock(em, level.productId, { before: row.previous_available, after: availableOf(level), threshold: row.low_stock_threshold });
      return level;
    });
  }

  private async run<T = StockRow>(em: EntityManager, sql: string, params: unknown[], onCheck: Record<string, DomainError>, field: string[]): Promise<T[]> {
    try {
      return await em.execute<T[]>(sql, params);
    } catch (error) {
      if (error instanceof CheckConstraintViolationException) {
        const mapped = onCheck[(error as { constraint?: string }).constraint ?? ''];
        if (mapped) throw mapped;
      }
      // 22003 numeric_value_out_of_range: the count would not fit a 32-bit integer.
      if (error instanceof DriverException && error.code === '22003') throw new DomainError('QUANTITY_TOO_LARGE', 'Stock would exceed the largest count that can be stored', field);
      throw error;
    }
  }
}

function validProductId(productId: string): string {
  if (!isUuid(productId)) throw new DomainError('INVALID_PRODUCT_ID', 'Product id must be a UUID', ['input', 'productId']);
  return productId.toLowerCase();
}
