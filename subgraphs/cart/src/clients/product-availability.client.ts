import { queryGraph, type GraphQLRequest, type Logger } from '@shopgraph/kit';
import type { Availability, ProductAvailability } from '../domain/product-availability.ts';

export const PRODUCT_QUERY = 'query ProductExists($id: ID!) { product(id: $id) { id } }';
/** Inventory's part of the product, asked for exactly as the router asks it (the entity's key as representation). */
export const STOCK_QUERY = 'query ProductStock($products: [_Any!]!) { _entities(representations: $products) { ... on Product { availableQuantity } } }';

export interface SubgraphProductAvailabilityOptions {
  /** GraphQL URLs of the subgraphs that own a product (catalog) and its stock (inventory). */
  urls: { catalog: string; inventory: string };
  /** For each of them; they are asked together. */
  timeoutMs: number;
  logger: Logger;
}

/**
 * Asks catalog whether a product exists and inventory how many are available, together and
 * directly (not through the router), on behalf of the caller whose token it forwards. Anything
 * short of a complete answer rejects. As through the router, a product catalog does not know is
 * not found whatever inventory answers, and one inventory never stocked has none available.
 */
export function subgraphProductAvailability({ urls, timeoutMs, logger }: SubgraphProductAvailabilityOptions): ProductAvailability {
  return {
    async lookup(productId, token): Promise<Availability> {
      const ask = <T>(url: string, what: string, request: GraphQLRequest) => queryGraph<T>({ url, timeoutMs, logger }, what, request, token);

      const stock = ask<{ _entities?: ({ availableQuantity?: unknown } | null)[] }>(urls.inventory, 'Stock lookup', {
        query: STOCK_QUERY,
        operationName: 'ProductStock',
        variables: { products: [{ __typename: 'Product', id: productId }] },
      });
      // Its failure matters only for a product catalog knows (the router would not have asked).
      stock.catch(() => {});

      const { product } = await ask<{ product?: { id: string } | null }>(urls.catalog, 'Product lookup', { query: PRODUCT_QUERY, operationName: 'ProductExists', variables: { id: productId } });
      if (product === undefined) throw new Error('Product lookup answered without product');
      if (product === null) return { exists: false, availableQuantity: 0 };

      const { _entities: entities } = await stock;
      const availableQuantity = entities?.length === 1 ? entities[0]?.availableQuantity : undefined;
      if (!Number.isSafeInteger(availableQuantity)) throw new Error('Stock lookup answered without availableQuantity');
      return { exists: true, availableQuantity: Math.max(0, availableQuantity as number) };
    },
  };
}
