import { ChangeSetType, type EventSubscriber, type FlushEventArgs, type TransactionEventArgs } from '@mikro-orm/core';
import type { EntityManager, Orm } from '../db.ts';
import { openBatchOutbox, OutboxMessage, writeBatchOutbox } from './outbox.ts';

/** A transaction context: a Kysely transaction, or a savepoint in one (which has a `savepointName`). */
type TransactionContext = object;

/**
 * Tells its listeners when a transaction that wrote outbox rows has committed, in this process:
 * that is when the relay can see them. The relay is woken from here rather than by a NOTIFY in the
 * writing transaction, which would hold Postgres's one notify-queue lock (one for the whole cluster)
 * from that transaction's pre-commit until its commit is durable, queueing every event-recording
 * commit behind the others' WAL flushes.
 */
export interface OutboxCommits {
  /** Calls `listener` after each such commit; returns the unsubscribe. */
  listen(listener: () => void): () => void;
}

const watchers = new WeakMap<Orm, OutboxCommits>();

// Top-level transactions that wrote outbox rows, and each savepoint's enclosing context (a
// transaction context belongs to one ORM, so only that ORM's watcher sees it commit).
const wrote = new WeakSet<TransactionContext>();
const parentOf = new WeakMap<TransactionContext, TransactionContext>();
const rootOf = (ctx: TransactionContext): TransactionContext => {
  for (let parent = parentOf.get(ctx); parent; parent = parentOf.get(ctx)) ctx = parent;
  return ctx;
};

/**
 * Tells the watcher that `em`'s transaction wrote outbox rows in SQL, not through a flush (which
 * it sees by itself): its listeners are called once that transaction has committed.
 */
function outboxWritten(em: EntityManager): void {
  const ctx = em.getTransactionContext<TransactionContext>();
  if (!ctx) throw new Error('outboxWritten takes the em of a transaction');
  wrote.add(rootOf(ctx));
}

/**
 * Runs `work` in a transaction of its own (on a fork of `em`) in which the events `recordEvent`
 * records are kept, not persisted as entities, and written in one statement just before the
 * commit; the relay is told once it has committed. For work that writes in SQL, with no ORM flush
 * to carry its events (and for a consumer's batch, whose events then cost one insert).
 */
export function transactionWithEvents<T>(em: EntityManager, work: (em: EntityManager) => Promise<T>): Promise<T> {
  return em.fork().transactional(async (tx) => {
    openBatchOutbox(tx);
    const result = await work(tx);
    if (await writeBatchOutbox(tx)) outboxWritten(tx);
    return result;
  });
}

/** The watcher of `orm`'s commits (one per ORM; it sees transactions that start after this first call). */
export function outboxCommits(orm: Orm): OutboxCommits {
  let watcher = watchers.get(orm);
  if (!watcher) {
    watcher = watch(orm);
    watchers.set(orm, watcher);
  }
  return watcher;
}

function watch(orm: Orm): OutboxCommits {
  const listeners = new Set<() => void>();
  const committed = (): void => {
    for (const listener of listeners) listener();
  };
  const starting = new WeakMap<object, TransactionContext>();
  const subscriber: EventSubscriber = {
    // A savepoint starts with its parent as the event's transaction, then reports itself.
    beforeTransactionStart({ em, transaction }: TransactionEventArgs) {
      if (transaction) starting.set(em, transaction);
    },
    afterTransactionStart({ em, transaction }: TransactionEventArgs) {
      const parent = starting.get(em);
      starting.delete(em);
      if (transaction && parent && 'savepointName' in transaction) parentOf.set(transaction, parent);
    },
    afterFlush({ em, uow }: FlushEventArgs) {
      if (!uow.getChangeSets().some((cs) => cs.type === ChangeSetType.CREATE && cs.meta.className === OutboxMessage.meta.className)) return;
      const ctx = em.getTransactionContext<TransactionContext>();
      // Outside a transaction the flush was its own, and has committed.
      if (ctx) wrote.add(rootOf(ctx));
      else committed();
    },
    afterTransactionCommit({ transaction }: TransactionEventArgs) {
      if (transaction && !('savepointName' in transaction) && wrote.has(transaction)) committed();
    },
  };
  orm.em.getEventManager().registerSubscriber(subscriber);
  return {
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
