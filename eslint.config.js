import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.cache/**', '.data/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // The kit's index also loads the database and Kafka layers (MikroORM, kafkajs), which only subgraphs use.
    files: ['router/src/**/*.ts', 'bench/router/gateways/router.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: '@shopgraph/kit', message: "The router imports the kit's modules one by one (e.g. '@shopgraph/kit/http'): the index would also load MikroORM and kafkajs." }] }],
    },
  },
);
