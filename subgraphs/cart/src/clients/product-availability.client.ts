import { postGraphQL, type GraphQLResponseBody, type Logger } from '@shopgraph/kit';
import type { Availability, ProductAvailability } from '../domain/product-availability.ts';

const QUERY = 'query($id: ID!) { product(id: $id) { id availableQuantity } }';

type Response = GraphQLResponseBody<{ product?: { id: string; availableQuantity: number } | null }>;

/**
 * Asks the supergraph (through the router) about a product, on behalf of the caller: catalog says
 * whether it exists, inventory how many are available. Any failure to get a complete answer
 * (router down, timeout, a subgraph error) rejects; it never reads as "not found".
 */
export function graphProductAvailability(options: { url: string; timeoutMs: number; logger: Logger }): ProductAvailability {
  const { url, timeoutMs, logger } = options;
  return {
    async lookup(productId, token): Promise<Availability> {
      let body: Response;
      try {
        body = await postGraphQL(url, { query: QUERY, variables: { id: productId } }, { token, timeoutMs });
      } catch (error) {
        logger.warn({ err: error, url, productId }, 'product lookup failed');
        throw new Error('Product lookup failed', { cause: error });
      }
      const product = body.data?.product;
      if (body.errors?.length || product === undefined) {
        logger.warn({ errors: body.errors, url, productId }, 'product lookup answered with errors');
        throw new Error(`Product lookup answered with errors: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
      }
      if (product === null) return { exists: false, availableQuantity: 0 };
      if (!Number.isInteger(product.availableQuantity)) throw new Error('Product lookup answered without availableQuantity');
      return { exists: true, availableQuantity: Math.max(0, product.availableQuantity) };
    },
  };
}
