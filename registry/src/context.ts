import type { RequestContext, RequestInput } from '@shopgraph/kit';
import { RegistryService, type Limits } from './domain/registry.service.ts';

export interface RegistryContext extends RequestContext {
  registry: RegistryService;
}

/** The caller's identity is the registry token it presented (its name and scopes); a service per request on its own EntityManager. */
export const registryContext =
  (limits: Limits) =>
  ({ identity, em }: RequestInput<unknown>): RegistryContext => ({ identity, registry: new RegistryService(em, limits) });
