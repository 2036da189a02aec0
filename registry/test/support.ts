import { graphql, startServiceUnderTest, type ServiceUnderTest } from '@shopgraph/testkit';
import { createRegistryApp } from '../src/app.ts';
import { loadRegistryConfig } from '../src/config.ts';
import { entities } from '../src/entities/index.ts';
import { migrations } from '../src/migrations/index.ts';

/** The registry's tokens in tests, by what they may do. */
export const tokens = {
  publisher: 'publisher-secret-0123456789',
  checker: 'checker-secret-0123456789',
  router: 'router-secret-0123456789',
} as const;
export const REGISTRY_TOKENS = `ci:check+publish:${tokens.publisher},pr:check:${tokens.checker},router:router+usage:${tokens.router}`;

/**
 * The registry on a database of its own (see startServiceUnderTest), with the test tokens. The
 * harness's JWT verifier is not used: the registry's callers present registry tokens.
 */
export function startRegistry(env: Record<string, string> = {}): Promise<ServiceUnderTest> {
  return startServiceUnderTest({
    name: 'registry',
    entities,
    migrations,
    env: { REGISTRY_TOKENS, ...env },
    start: ({ env, logger }) => createRegistryApp({ config: loadRegistryConfig(env), logger }),
  });
}

/** Calls the registry's API with a token. */
export const registryCall = <T = Record<string, any>>(registry: ServiceUnderTest, query: string, variables: Record<string, unknown>, token: string = tokens.publisher) =>
  graphql<T>(registry.url, query, variables, token);

export const PUBLISH = /* GraphQL */ `
  mutation Publish($input: PublishSchemaInput!) {
    publishSchema(input: $input) {
      version { version publishedBy author supergraphId subgraphs { name action routingUrl } changes { severity coordinate message } eventContracts }
      changed
      check { passed composition { errors { code message } } changes { kind severity coordinate } eventContracts { type severity message } }
      errors { code message }
    }
  }
`;

export const CHECK = /* GraphQL */ `
  query Check($input: SchemaCheckInput!) {
    schemaCheck(input: $input) {
      passed
      baseVersion
      composition { errors { code message } hints { code message } }
      changes { kind severity safeByUsage coordinate message subgraph usage { requests summary clients { name version requests } operations { client version name } } }
      operations { client version name errors }
      operationsChecked
      lint { rule severity subgraph coordinate message }
      eventContracts { type severity message }
      usageWindowDays
    }
  }
`;
