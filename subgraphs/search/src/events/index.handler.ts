import type { EventHandlers } from '@shopgraph/kit';
import type { IndexWriter } from '../domain/index-writer.ts';
import { catalogFields, ratingFields, stockFields } from '../domain/product-document.ts';

/**
 * Search's read model (consumer group `search.index`): catalog's product changes, inventory's
 * stock levels and reviews' ratings become partial updates of the product's document, each owner's
 * fields merged into what the others wrote (a stock level that arrives before the product creates a document with the
 * flag only, which no search matches until catalog's fields join it). The batch's changes go to
 * Elasticsearch in one bulk request as its transaction commits (see IndexWriter).
 */
export const indexHandlers = (writer: IndexWriter): EventHandlers => ({
  'catalog.product.changed': async (event, em) => {
    const fields = catalogFields(event.data);
    writer.stage(em, { id: fields.id, fields });
  },
  'inventory.stock.level-changed': async (event, em) => {
    const fields = stockFields(event.data);
    writer.stage(em, { id: fields.id, fields });
  },
  'reviews.product.rated': async (event, em) => {
    const fields = ratingFields(event.data);
    writer.stage(em, { id: fields.id, fields });
  },
});
