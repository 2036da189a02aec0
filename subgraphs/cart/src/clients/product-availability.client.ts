import { queryGraph, type GraphClientOptions } from '@shopgraph/kit';
import type { Availability, ProductAvailability } from '../domain/product-availability.ts';

const QUERY = 'query($id: ID!) { product(id: $id) { id availableQuantity } }';

type Data = { product?: { id: string; availableQuantity: number } | null };

/**
 * Asks the supergraph about a product, on behalf of the caller: catalog says whether it exists,
 * inventory how many are available. Anything short of a complete answer rejects.
 */
export function graphProductAvailability(options: GraphClientOptions): ProductAvailability {
  return {
    async lookup(productId, token): Promise<Availability> {
      const { product } = await queryGraph<Data>(options, 'Product lookup', { query: QUERY, variables: { id: productId } }, token);
      if (product === undefined) throw new Error('Product lookup answered without product');
      if (product === null) return { exists: false, availableQuantity: 0 };
      if (!Number.isInteger(product.availableQuantity)) throw new Error('Product lookup answered without availableQuantity');
      return { exists: true, availableQuantity: Math.max(0, product.availableQuantity) };
    },
  };
}
