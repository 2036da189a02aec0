import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.cache/**', '.data/**', '**/*.js', '!eslint.config.js', '!web/*.js'] },
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
    // The web client: plain browser modules, no build step.
    files: ['web/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'fetch', 'URL', 'URLSearchParams', 'localStorage', 'sessionStorage', 'setTimeout', 'clearTimeout', 'console', 'crypto', 'Intl', 'navigator', 'AbortController', 'Event', 'CustomEvent', 'HTMLElement', 'atob', 'WebSocket', 'FormData'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
