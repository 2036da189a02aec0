import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// The file suffix picks the project: *.test.ts (unit), *.int.test.ts (real infrastructure),
// *.e2e.test.ts (the whole supergraph through the router); the chaos run is a project of its own.
const shared = { exclude: ['**/node_modules/**', '.cache/**', '.data/**'] };
const realInfrastructure = { globalSetup: ['packages/testkit/src/global-setup.ts'], hookTimeout: 120_000 };
const wholeSupergraph = { testTimeout: 60_000, hookTimeout: 180_000 };
const CHAOS = 'e2e/chaos.e2e.test.ts';

export default defineConfig({
  // Node loads graphql's CommonJS build (its package has no "exports"); make inlined project code
  // load the same copy, since graphql refuses to mix two instances.
  resolve: { alias: { graphql: createRequire(import.meta.url).resolve('graphql') } },
  test: {
    // Two files at a time, also on two cores: most of a file's time is a supergraph waiting on Kafka,
    // Postgres and its own processes, not the test's CPU (the run's Postgres is sized for it, see global-setup).
    maxWorkers: 2,
    projects: [
      { extends: true, test: { ...shared, name: 'unit', include: ['**/*.test.ts'], exclude: [...shared.exclude, '**/*.int.test.ts', '**/*.e2e.test.ts'] } },
      { extends: true, test: { ...shared, name: 'int', include: ['**/*.int.test.ts'], ...realInfrastructure, testTimeout: 60_000 } },
      { extends: true, test: { ...shared, name: 'e2e', include: ['**/*.e2e.test.ts'], exclude: [...shared.exclude, CHAOS], ...realInfrastructure, ...wholeSupergraph } },
      // The chaos run kills and pauses its own stack's parts for minutes: it runs alone, after
      // everything else, so its restarts decide no other test's timeouts.
      { extends: true, test: { ...shared, name: 'chaos', include: [CHAOS], ...realInfrastructure, ...wholeSupergraph, sequence: { groupOrder: 1 } } },
    ],
  },
});
