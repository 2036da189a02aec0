import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// The file suffix picks the project: *.test.ts (unit), *.int.test.ts (real infrastructure),
// *.e2e.test.ts (the whole supergraph through the router).
const shared = { exclude: ['**/node_modules/**', '.cache/**', '.data/**'] };

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
      { extends: true, test: { ...shared, name: 'int', include: ['**/*.int.test.ts'], globalSetup: ['packages/testkit/src/global-setup.ts'], testTimeout: 60_000, hookTimeout: 120_000 } },
      { extends: true, test: { ...shared, name: 'e2e', include: ['**/*.e2e.test.ts'], globalSetup: ['packages/testkit/src/global-setup.ts'], testTimeout: 60_000, hookTimeout: 180_000 } },
    ],
  },
});
