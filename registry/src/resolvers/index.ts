import type { GraphQLResolverMap } from '@shopgraph/kit';
import type { RegistryContext } from '../context.ts';
import type { PublishSchemaInput, SchemaCheckInput } from '../domain/registry.service.ts';
import type { UsageReport } from '../domain/usage.ts';
import type { SchemaVersion } from '../entities/index.ts';

// Every field is guarded by @requiresScopes in schema.graphql: a resolver runs only for a token with the scope.
export const resolvers: GraphQLResolverMap<RegistryContext> = {
  Query: {
    routerSupergraph: (_: unknown, { variant, ifNotId }: { variant: string; ifNotId?: string | null }, { registry }: RegistryContext) => registry.routerSupergraph(variant, ifNotId ?? null),
    routerTrustedDocuments: (_: unknown, { variant }: { variant: string }, { registry }: RegistryContext) => registry.trustedDocuments(variant),
    schemaCheck: (_: unknown, { input }: { input: SchemaCheckInput }, { registry }: RegistryContext) => registry.check(input),
    subgraphs: (_: unknown, { variant, names }: { variant: string; names?: string[] | null }, { registry }: RegistryContext) => registry.subgraphs(variant, names ?? null),
    schemaVersions: (_: unknown, { variant, first }: { variant: string; first: number }, { registry }: RegistryContext) => registry.versions(variant, first),
  },
  Mutation: {
    publishSchema: (_: unknown, { input }: { input: PublishSchemaInput }, { registry, identity }: RegistryContext) => registry.publish(input, identity!.userId),
    pushClientManifest: async (_: unknown, { input }: { input: { variant: string; client: string; version: string; manifest: string } }, { registry, identity }: RegistryContext) => ({
      ...(await registry.pushManifest(input, identity!.userId)),
      errors: [],
    }),
    reportUsage: async (_: unknown, { variant, report }: { variant: string; report: UsageReport }, { registry }: RegistryContext) => {
      await registry.reportUsage(variant, report);
      return true;
    },
  },
  SchemaVersion: {
    publishedAt: (version: SchemaVersion) => version.publishedAt.toISOString(),
    subgraphs: (version: SchemaVersion) => version.summary.subgraphs,
    changes: (version: SchemaVersion) => version.summary.changes,
    eventContracts: (version: SchemaVersion) => version.summary.eventContracts,
  },
  Subgraph: {
    updatedAt: ({ updatedAt }: { updatedAt: Date }) => updatedAt.toISOString(),
  },
};
