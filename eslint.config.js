// ESLint for the whole repository: TypeScript (type-aware), React hooks and Next's rules for the panel.
// Formatting is Prettier's job: eslint-config-prettier, last, turns off every rule that would fight it.
import nextPlugin from '@next/eslint-plugin-next';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    '**/node_modules/',
    '**/.next/',
    '**/dist/',
    '**/.tula/',
    '**/.turbo/',
    'packages/db/src/generated/',
    'apps/web/next-env.d.ts',
    'test-results/',
    'playwright-report/',
  ]),
  {
    linterOptions: { reportUnusedDisableDirectives: 'error', reportUnusedInlineConfigs: 'error' },
  },
  tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: {
      // The two programs `npm run typecheck` checks (the root's, every package but the panel, and the panel's).
      // projectService used each file's nearest tsconfig: twelve programs, each parsing and checking again
      // the sources of the packages its package imports (91 CPU-seconds against 55, 2026-12-06).
      parserOptions: { project: ['./tsconfig.json', './apps/web/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The type-aware rules that catch real faults: a promise nobody awaits, a promise where a value belongs.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      // Values that cross the wire are validated with zod; `any` leaking from JSON.parse and friends is read
      // through zod too, so the no-unsafe-* family adds noise without finding faults here.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // An async function with no await is how an interface that returns a promise is met (a bus, Next's headers()).
      '@typescript-eslint/require-await': 'off',
      // ws types a message as Buffer | ArrayBuffer | Buffer[]; with its default binaryType every message is one Buffer.
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['ArrayBuffer'] }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // A `let` that a cleanup closure reads before its one assignment must stay a `let`: as a `const` the
      // closure would throw if it ran first (the lab's shutdown during start-up).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['apps/web/**/*.{ts,tsx}'],
    // The two classic hook rules. The plugin's other recommended rules check code for the React Compiler,
    // which the panel does not use (it reads the clock while rendering, on purpose, to show ages).
    plugins: { 'react-hooks': reactHooks, '@next/next': nextPlugin },
    settings: { next: { rootDir: 'apps/web/' } },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      ...nextPlugin.configs.recommended.rules,
      ...nextPlugin.configs['core-web-vitals'].rules,
    },
  },
  {
    // Plain JavaScript (build scripts, the agent's launcher) is not in any TypeScript program.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  prettier,
);
