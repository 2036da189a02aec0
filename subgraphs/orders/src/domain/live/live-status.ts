import { ErrorCode, graphqlError, isUuid, pushable, type EntityManager, type Identity } from '@shopgraph/kit';
import { GraphQLError } from 'graphql';
import { Order } from '../../entities/order.entity.ts';
import { OrderStatusChange } from '../../entities/order-status-change.entity.ts';
import { canView } from '../orders.service.ts';
import { isFinal, type OrderStatus } from '../order-status.ts';
import { StatusSequencer } from './status-sequencer.ts';

/**
 * Live order status for subscribers: every replica receives every `orders.order.status-changed`
 * (a broadcast consumer, events/live.handler.ts) and publishes it on its in-memory bus, keyed by
 * order id; each subscriber follows one order, first from its history (the database), then live,
 * in version order without gaps or duplicates.
 */

/** One status change of an order, as its history row or its event carries it. */
export interface StatusChange {
  orderId: string;
  /** The order's owner (for the per-event access check). */
  userId: string;
  version: number;
  status: OrderStatus;
  reason: string | null;
  at: Date;
}

/** In-process pub/sub of status changes by order id. */
export class StatusChangeBus {
  readonly #listeners = new Map<string, Set<(change: StatusChange) => void>>();

  /** Calls `listener` with every change of the order published from now on; returns the unsubscribe function. */
  subscribe(orderId: string, listener: (change: StatusChange) => void): () => void {
    const key = orderId.toLowerCase();
    let listeners = this.#listeners.get(key);
    if (!listeners) this.#listeners.set(key, (listeners = new Set()));
    const set = listeners;
    const own = (change: StatusChange) => listener(change); // a distinct entry per subscription
    set.add(own);
    return () => {
      set.delete(own);
      if (!set.size && this.#listeners.get(key) === set) this.#listeners.delete(key);
    };
  }

  publish(change: StatusChange): void {
    for (const listener of this.#listeners.get(change.orderId.toLowerCase()) ?? []) listener(change);
  }

  /** Subscriptions open now (all orders, or one). */
  subscribers(orderId?: string): number {
    if (orderId) return this.#listeners.get(orderId.toLowerCase())?.size ?? 0;
    let count = 0;
    for (const set of this.#listeners.values()) count += set.size;
    return count;
  }
}

/** Test seams around the switch from history to live, to make a change happen exactly there. */
export interface StatusFeedHooks {
  /** After the subscriber is registered for live changes, before the history is read. */
  afterLiveSubscribed?: (orderId: string) => Promise<void> | void;
  /** After the history was read, before it and the live changes buffered meanwhile are sent. */
  afterHistoryRead?: (orderId: string, history: readonly StatusChange[]) => Promise<void> | void;
}

export interface FollowOptions {
  bus: StatusChangeBus;
  /** The order's changes with a version greater than `after`, oldest first, read fresh from the database. */
  readAfter: (after: number) => Promise<StatusChange[]>;
  /** The order's latest change (its current status). */
  readLatest: () => Promise<StatusChange | null>;
  /** Whether the subscriber may see a change (checked on every one). */
  mayView: (change: StatusChange) => boolean;
  /** The order's status when the subscription began: a final one with nothing left to send completes at once. */
  current?: { version: number; status: OrderStatus };
  /** Changes that may wait for a slow subscriber before it is ended with SUBSCRIPTION_OVERFLOW. */
  maxBuffered?: number;
  hooks?: StatusFeedHooks;
}

export const LiveStatusErrorCode = { SUBSCRIPTION_OVERFLOW: 'SUBSCRIPTION_OVERFLOW' } as const;

/**
 * The status changes of one order for one subscriber, in version order, each once: with `after`,
 * every change with a greater version, then live ones; without (`null`), the latest change first,
 * then live ones. Ends after a final status.
 *
 * No gap, no duplicate, even when a change happens during the switch from history to live: the
 * subscriber registers for live changes first and buffers them, then reads the history, then
 * sends the history and the buffer through one sequencer, which drops versions already sent.
 * A live change that leaves a gap (one this replica missed) makes it read the missing versions
 * from the database. `return()` unsubscribes at once.
 */
export function followStatus(orderId: string, after: number | null, options: FollowOptions): AsyncIterableIterator<StatusChange> {
  const { bus, hooks = {} } = options;
  let sequencer: StatusSequencer<StatusChange> | undefined;
  const early: StatusChange[] = [];
  let done = false;
  let unsubscribe = () => {};
  const stop = () => {
    done = true;
    unsubscribe();
  };
  const out = pushable<StatusChange>({
    maxBuffered: options.maxBuffered ?? 1_000,
    overflow: () => new GraphQLError('Status changes came faster than they were read; resubscribe with `after`', { extensions: { code: LiveStatusErrorCode.SUBSCRIPTION_OVERFLOW } }),
    onReturn: stop,
  });
  const fail = (error: unknown) => {
    if (done) return;
    stop();
    out.fail(error);
  };
  const finishIfFinal = (status: OrderStatus | undefined) => {
    if (done || !status || !isFinal(status)) return;
    stop();
    out.end();
  };

  const send = (changes: StatusChange[]) => {
    for (const change of changes) {
      if (done) return;
      out.push(change);
      finishIfFinal(change.status);
    }
  };

  // At most one read of missing versions at a time; a gap found meanwhile reads again after it.
  let filling = false;
  let fillAgain = false;
  const fill = async () => {
    if (filling) return void (fillAgain = true);
    filling = true;
    try {
      do {
        fillAgain = false;
        for (const change of await options.readAfter(sequencer!.last)) accept(change);
      } while (fillAgain && !done && sequencer!.hasGap);
    } catch (error) {
      fail(error);
    } finally {
      filling = false;
    }
  };

  const accept = (change: StatusChange) => {
    if (done) return;
    if (!options.mayView(change)) return fail(graphqlError(ErrorCode.FORBIDDEN, 'An order\'s status is visible only to its owner and staff'));
    send(sequencer!.offer(change));
    if (sequencer!.hasGap && !done) void fill();
  };

  // Live first (buffered until the history is in), so nothing committed after the read is missed.
  unsubscribe = bus.subscribe(orderId, (change) => (sequencer ? accept(change) : early.push(change)));
  void (async () => {
    await hooks.afterLiveSubscribed?.(orderId);
    let history: StatusChange[];
    let start: number;
    if (after === null) {
      const latest = await options.readLatest();
      history = latest ? [latest] : [];
      start = latest ? latest.version - 1 : 0;
    } else {
      history = await options.readAfter(after);
      start = after;
    }
    await hooks.afterHistoryRead?.(orderId, history);
    if (done) return;
    sequencer = new StatusSequencer(start);
    for (const change of [...history, ...early.splice(0)]) accept(change);
    if (options.current && sequencer.last >= options.current.version) finishIfFinal(options.current.status);
  })().catch(fail);
  return out.iterator;
}

const toChange = (userId: string) => (row: OrderStatusChange): StatusChange => ({
  orderId: row.order.id,
  userId,
  version: row.version,
  status: row.status,
  reason: row.reason ?? null,
  at: row.at,
});

/**
 * Follows an order's status for a caller: only its owner and staff may, anyone else (and an
 * unknown order, so its existence does not leak) is refused with FORBIDDEN before anything is
 * set up. Every read is on a fresh fork of `em`.
 */
export class LiveStatusService {
  readonly #em: EntityManager;
  readonly #bus: StatusChangeBus;
  readonly #hooks: StatusFeedHooks | undefined;

  constructor(em: EntityManager, bus: StatusChangeBus, hooks?: StatusFeedHooks) {
    this.#em = em;
    this.#bus = bus;
    this.#hooks = hooks;
  }

  async follow(viewer: Identity | null, orderId: string, after: number | null | undefined): Promise<AsyncIterableIterator<StatusChange>> {
    if (after !== null && after !== undefined && after < 0) throw graphqlError(ErrorCode.BAD_USER_INPUT, '`after` is a version (0 or more)', { field: ['after'] });
    const order = isUuid(orderId) ? await this.#em.fork().findOne(Order, { id: orderId.toLowerCase() }) : null;
    if (!order || !canView(viewer, order.userId)) throw graphqlError(ErrorCode.FORBIDDEN, 'An order\'s status is visible only to its owner and staff');
    const { id, userId } = order;
    const rows = (where: object, limit?: number) =>
      this.#em.fork().find(OrderStatusChange, { order: id, ...where }, { orderBy: { version: limit ? 'desc' : 'asc' }, ...(limit ? { limit } : {}) });
    return followStatus(id, after ?? null, {
      bus: this.#bus,
      readAfter: async (version) => (await rows({ version: { $gt: version } })).map(toChange(userId)),
      readLatest: async () => (await rows({}, 1)).map(toChange(userId))[0] ?? null,
      // The event's owner is the order's: a change of another order never reaches this subscriber.
      mayView: (change) => change.orderId.toLowerCase() === id && change.userId.toLowerCase() === userId.toLowerCase() && canView(viewer, change.userId),
      current: { version: order.statusVersion, status: order.status },
      hooks: this.#hooks,
    });
  }
}
