import { stage, type BatchStage, type EntityManager } from '@shopgraph/kit';
import { mergeChanges, type DocumentChange } from './product-document.ts';

/** Where staged changes go: the product index (see the product-index client). */
export interface DocumentSink {
  /** One bulk request; throws DependencyUnavailable while Elasticsearch is unavailable. */
  write(changes: readonly DocumentChange[]): Promise<void>;
}

/**
 * Writes the document changes of a consumer batch to the index in one bulk request, just before
 * the batch's transaction commits (a kit batch stage): a batch costs one request, not one per
 * event; and a write that fails fails the commit, so the batch is not marked processed and comes
 * again (after the consumer's wait, for an Elasticsearch that is down). A write that succeeded
 * before a failed commit is written again on redelivery, which changes nothing: each change sets
 * fields to values.
 */
export class IndexWriter implements BatchStage<DocumentChange> {
  private readonly sink: DocumentSink;

  constructor(sink: DocumentSink) {
    this.sink = sink;
  }

  /** Stages a change in the handler's transaction (`em` is the consumer's, see EventHandler). */
  stage(em: EntityManager, change: DocumentChange): void {
    stage(em, this, change);
  }

  /** The batch's changes, one per product (each product's merged in order). */
  carryOut(changes: readonly DocumentChange[]): Promise<void> {
    return this.sink.write(mergeChanges(changes));
  }
}
