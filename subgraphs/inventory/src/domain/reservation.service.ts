import { recordEvent, type EntityManager } from '@shopgraph/kit';
import { ReservationStatus } from '../entities/reservation.entity.ts';
import { recordLowStock, recordStockLevel } from './inventory.service.ts';

/** Largest count a stock column holds (Postgres int); a larger request can never be met. */
const MAX_COUNT = 2_147_483_647;

export interface ReservationLine {
  productId: string;
  quantity: number;
}

/** A line that could not be reserved: how many were asked for, how many were free when checked. */
export interface Shortage {
  productId: string;
  requested: number;
  available: number;
}

export type ReserveOutcome =
  | { outcome: 'reserved'; lines: ReservationLine[] }
  | { outcome: 'rejected'; shortages: Shortage[] }
  /**
   * The order holds reservations already (a redelivery), or was cancelled before its placement
   * was handled (a dead letter replayed late): nothing changed, nothing recorded.
   */
  | { outcome: 'unchanged' };

/**
 * An order's lines as reservations: one per product (quantities of repeated products summed),
 * sorted by product id so every transaction locks stock rows in the same order (no deadlocks
 * between concurrent orders sharing products).
 */
export function mergeLines(lines: readonly ReservationLine[]): ReservationLine[] {
  const byProduct = new Map<string, number>();
  for (const { productId, quantity } of lines) {
    const id = productId.toLowerCase();
    byProduct.set(id, (byProduct.get(id) ?? 0) + quantity);
  }
  return [...byProduct].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([productId, quantity]) => ({ productId, quantity }));
}

// One guarded statement per line: Postgres locks the row and re-checks the guard against the
// latest committed row, so concurrent orders can never reserve more than is free. A product
// inventory has never stocked has no row, hence nothing free.
const RESERVE = `
  update stock_item
    set reserved = reserved + ?, version = version + 1, updated_at = now()
    where product_id = ? and on_hand - reserved >= ?
  returning product_id, on_hand - reserved as available, low_stock_threshold as threshold`;

const AVAILABLE = `select on_hand - reserved as available from stock_item where product_id = ?`;

// Paid: the units leave the shelf. `reserved >= q` always holds for a RESERVED line; the guard
// makes a broken invariant an error instead of a silent wrong count.
const TAKE = `
  update stock_item
    set on_hand = on_hand - ?, reserved = reserved - ?, version = version + 1, updated_at = now()
    where product_id = ? and reserved >= ?
  returning product_id`;

const UNRESERVE = `
  update stock_item
    set reserved = reserved - ?, version = version + 1, updated_at = now()
    where product_id = ? and reserved >= ?
  returning product_id, on_hand - reserved as available`;

const RESTOCK = `
  update stock_item
    set on_hand = on_hand + ?, version = version + 1, updated_at = now()
    where product_id = ?
  returning product_id, on_hand - reserved as available`;

/** What a guarded stock statement returns: the row it changed and, unless the change keeps it, what is available now. */
interface StockChange {
  product_id: string;
  available?: number;
  threshold?: number;
}

interface ReservationRow {
  product_id: string;
  quantity: number;
  status: ReservationStatus;
}

/**
 * The checkout saga's side of stock: reservations of orders. Each method runs inside the caller's
 * transaction (the consumer's, with its processed-message row), changes stock with guarded
 * single-row statements and records the events the change causes through the outbox, so the
 * effect and its events commit together.
 *
 * Idempotent by state as well as by the consumer's processed-message row: reservation statuses
 * only move forward (RESERVED → COMMITTED | RELEASED, COMMITTED → RELEASED), and each method
 * acts only on the lines in the statuses it moves from, so a redelivered event changes nothing.
 */
export class ReservationService {
  private readonly em: EntityManager;

  constructor(em: EntityManager) {
    if (!em.isInTransaction()) throw new Error('ReservationService needs a transaction');
    this.em = em;
  }

  /**
   * Reserves every line of an order, or none: a line that does not fit rolls back the lines
   * reserved before it (a savepoint), and the order is rejected with its shortages.
   */
  async reserve(order: { orderId: string; lines: readonly ReservationLine[] }): Promise<ReserveOutcome> {
    const orderId = order.orderId.toLowerCase();
    const lines = mergeLines(order.lines);
    // A later delivery of an order already reserved (its rows exist) changes nothing. Concurrent
    // deliveries both get here, but the reservation rows' primary key lets only one commit.
    // Nor does a placement of a cancelled order (its tombstone exists): placed and cancelled of
    // one order share a partition, so the cancellation was handled before it, not beside it.
    const [seen] = await this.em.execute<{ n: number }[]>(
      'select count(*)::int as n from (select order_id from reservation where order_id = ? union all select order_id from cancelled_order where order_id = ?) as known',
      [orderId, orderId],
    );
    if (seen!.n > 0) return { outcome: 'unchanged' };

    const shortages: Shortage[] = [];
    /** Products this order takes the last free units of; their level is recorded only if the order is reserved. */
    const soldOut: string[] = [];
    /** Products this order takes under their low-stock threshold; alerted only if the order is reserved. */
    const runningLow: { productId: string; before: number; after: number; threshold: number }[] = [];
    // Only a later line can fail after an earlier one was reserved: one line needs no savepoint.
    const undoable = lines.length > 1;
    if (undoable) await this.em.execute('savepoint reserve_order');
    for (const line of lines) {
      // Once one line is short the order is rejected: later lines are only checked, not reserved.
      const [reserved] = shortages.length === 0 && line.quantity <= MAX_COUNT
        ? await this.em.execute<StockChange[]>(RESERVE, [line.quantity, line.productId, line.quantity])
        : [];
      if (reserved) {
        if (reserved.available === 0) soldOut.push(line.productId);
        runningLow.push({ productId: line.productId, before: reserved.available! + line.quantity, after: reserved.available!, threshold: reserved.threshold! });
        continue;
      }
      const available = await this.available(line.productId);
      if (shortages.length === 0 || available < line.quantity) shortages.push({ productId: line.productId, requested: line.quantity, available });
    }

    if (shortages.length) {
      if (undoable) await this.em.execute('rollback to savepoint reserve_order');
      recordEvent(this.em, 'inventory.stock.rejected', orderId, { orderId, reason: 'insufficient stock', shortages });
      return { outcome: 'rejected', shortages };
    }
    if (undoable) await this.em.execute('release savepoint reserve_order');
    const values = lines.map(() => `(?, ?, ?, '${ReservationStatus.RESERVED}')`).join(', ');
    await this.em.execute(`insert into reservation (order_id, product_id, quantity, status) values ${values}`, lines.flatMap((line) => [orderId, line.productId, line.quantity]));
    recordEvent(this.em, 'inventory.stock.reserved', orderId, { orderId, lines });
    for (const productId of soldOut) recordStockLevel(this.em, productId, 0);
    for (const { productId, ...change } of runningLow) recordLowStock(this.em, productId, change);
    return { outcome: 'reserved', lines };
  }

  /** The order is paid: its reserved units leave stock (on hand and reserved), exactly once. */
  async commit(orderId: string): Promise<ReservationLine[]> {
    const lines = await this.lock(orderId, [ReservationStatus.RESERVED]);
    for (const line of lines) await this.change(TAKE, [line.quantity, line.quantity, line.product_id, line.quantity], line);
    await this.setStatus(orderId, lines, ReservationStatus.COMMITTED);
    return lines.map(toLine);
  }

  /** Payment failed (compensation): the reserved units become available again. */
  async release(orderId: string, reason: string): Promise<ReservationLine[]> {
    const lines = await this.lock(orderId, [ReservationStatus.RESERVED]);
    for (const line of lines) await this.change(UNRESERVE, [line.quantity, line.product_id, line.quantity], line, line.quantity);
    return this.released(orderId, lines, reason);
  }

  /**
   * The order's cancellation stands (before CONFIRMED, or shipping stopped the shipment): reserved
   * units become available again, and units already taken for it (paid) go back on the shelf. An
   * order that holds nothing (rejected, given back already, or not yet reserved) changes no stock
   * and records no event. Either way the order's tombstone is kept, so a placement handled later
   * (a replayed dead letter) reserves nothing for it.
   */
  async cancel(orderId: string, reason: string): Promise<ReservationLine[]> {
    await this.em.execute('insert into cancelled_order (order_id, reason) values (?, ?) on conflict do nothing', [orderId.toLowerCase(), reason]);
    const lines = await this.lock(orderId, [ReservationStatus.RESERVED, ReservationStatus.COMMITTED]);
    for (const line of lines) {
      if (line.status === ReservationStatus.RESERVED) await this.change(UNRESERVE, [line.quantity, line.product_id, line.quantity], line, line.quantity);
      else await this.change(RESTOCK, [line.quantity, line.product_id], line, line.quantity);
    }
    return this.released(orderId, lines, reason);
  }

  private async released(orderId: string, lines: ReservationRow[], reason: string): Promise<ReservationLine[]> {
    if (!lines.length) return [];
    await this.setStatus(orderId, lines, ReservationStatus.RELEASED);
    const id = orderId.toLowerCase();
    recordEvent(this.em, 'inventory.stock.released', id, { orderId: id, reason });
    return lines.map(toLine);
  }

  /**
   * The order's reservations in the given statuses, row-locked in product order: concurrent
   * handlers of one order (payment and cancellation arrive on different topics) take turns, and
   * the second sees the statuses the first left.
   */
  private lock(orderId: string, statuses: ReservationStatus[]): Promise<ReservationRow[]> {
    return this.em.execute<ReservationRow[]>(
      `select product_id, quantity, status from reservation where order_id = ? and status in (${statuses.map(() => '?').join(', ')}) order by product_id for update`,
      [orderId.toLowerCase(), ...statuses],
    );
  }

  private async setStatus(orderId: string, lines: ReservationRow[], status: ReservationStatus): Promise<void> {
    if (!lines.length) return;
    await this.em.execute(
      `update reservation set status = ?, updated_at = now() where order_id = ? and product_id in (${lines.map(() => '?').join(', ')})`,
      [status, orderId.toLowerCase(), ...lines.map((line) => line.product_id)],
    );
  }

  /**
   * One guarded stock change for a reservation line; no row means an invariant broke (retry, then
   * dead letter). `freed`: the units it makes available again; when the product had none before,
   * it is back in stock and its level is recorded.
   */
  private async change(sql: string, params: unknown[], line: ReservationRow, freed = 0): Promise<void> {
    const [row] = await this.em.execute<StockChange[]>(sql, params);
    if (!row) throw new Error(`stock of product ${line.product_id} does not cover its ${line.status} reservation of ${line.quantity}`);
    if (freed > 0 && row.available === freed) recordStockLevel(this.em, line.product_id, row.available);
  }

  private async available(productId: string): Promise<number> {
    const [row] = await this.em.execute<{ available: number }[]>(AVAILABLE, [productId]);
    return Math.max(0, row?.available ?? 0);
  }
}

const toLine = (row: ReservationRow): ReservationLine => ({ productId: row.product_id, quantity: row.quantity });
