// Lint set-up. The block for src/core enforces the sans-I/O rule of STYLE.md: the deterministic core
// reads no clock, no global randomness, no process state and does no I/O, so that every run of it
// is replayable from a seed in the simulator.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const coreBannedGlobals = [
  'Date',
  'performance',
  'crypto',
  'process',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'fetch',
  'Promise',
  'require',
  'Buffer',
  'globalThis',
].map((name) => ({
  name,
  message: `src/core is deterministic and sans-I/O: '${name}' is not allowed here (STYLE.md).`,
}));

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.edict/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', ...coreBannedGlobals],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'fs',
                'fs/*',
                'net',
                'os',
                'path',
                'child_process',
                'crypto',
                'timers',
                'timers/*',
                'worker_threads',
                'http',
                'https',
                'dgram',
                'events',
                'stream',
                'util',
              ],
              message: 'src/core is sans-I/O: no Node built-ins (STYLE.md).',
            },
            {
              group: [
                '**/sim/**',
                '**/runtime/**',
                '**/storage/**',
                '**/net/**',
                '**/server/**',
                '**/client/**',
                '**/cli/**',
                'lmdb',
                'msgpackr',
                'pino',
                'prom-client',
                'commander',
              ],
              message: 'src/core depends on nothing outside src/core (STYLE.md layout).',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'Use the seeded Prng from src/core/lib/prng.ts.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]',
          message: 'src/core is synchronous: no async functions.',
        },
        { selector: 'AwaitExpression', message: 'src/core is synchronous: no await.' },
        { selector: "NewExpression[callee.name='Date']", message: 'src/core reads no clock.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/core/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/sim/**'], message: 'Nothing imports sim/ (STYLE.md layout).' }],
        },
      ],
    },
  },
  {
    // The client library is shipped on its own (`edict/client`): it never reaches into the server.
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/sim/**'], message: 'Nothing imports sim/ (STYLE.md layout).' },
            {
              group: ['**/server/**', '**/storage/**', '**/cli/**'],
              message: 'The client depends on net, core and shared types only.',
            },
          ],
        },
      ],
    },
  },
);
