import type { EventSubscriber, TransactionEventArgs } from '@mikro-orm/core';
import type { EntityManager, Orm } from '@shopgraph/kit';
import { mergeChanges, type DocumentChange } from './product-document.ts';

/** Where staged changes go: the product index (see the product-index client). */
export interface DocumentSink {
  /** One bulk request; throws DependencyUnavailable while Elasticsearch is unavailable. */
  write(changes: readonly DocumentChange[]): Promise<void>;
}

/**
 * Writes the document changes of a consumer transaction to the index in one bulk request, just
 * before the transaction commits. The consumer runs a batch's handlers in one transaction (with
 * their processed-message rows), so a batch costs one request, not one per event; and a write
 * that fails fails the commit: the batch is not marked processed and comes again (after the
 * consumer's wait, for an Elasticsearch that is down). A write that succeeded before a failed
 * commit is written again on redelivery, which changes nothing: each change sets fields to values.
 */
export class IndexWriter {
  private readonly sink: DocumentSink;
  /** Changes staged in each open transaction, by its transaction (whichever EntityManager runs it). */
  private readonly staged = new WeakMap<object, DocumentChange[]>();

  constructor(sink: DocumentSink) {
    this.sink = sink;
  }

  /** Stages a change in the handler's transaction (`em` is the consumer's, see EventHandler). */
  stage(em: EntityManager, change: DocumentChange): void {
    const transaction = em.getTransactionContext();
    // Outside a transaction nothing would ever write it.
    if (!transaction) throw new Error('IndexWriter.stage needs the consumer transaction');
    const changes = this.staged.get(transaction) ?? [];
    changes.push(change);
    this.staged.set(transaction, changes);
  }

  /** Hooks the writes to the commits of the service's transactions; call once, before the consumer starts. */
  attach(orm: Orm): void {
    const subscriber: EventSubscriber = {
      beforeTransactionCommit: async ({ transaction }: TransactionEventArgs) => {
        const changes = transaction && this.staged.get(transaction);
        if (!changes) return;
        this.staged.delete(transaction);
        await this.sink.write(mergeChanges(changes));
      },
      afterTransactionRollback: ({ transaction }: TransactionEventArgs) => {
        if (transaction) this.staged.delete(transaction);
      },
    };
    orm.em.getEventManager().registerSubscriber(subscriber);
  }
}
