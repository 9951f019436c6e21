// ESLint for the TypeScript sources: typescript-eslint's type-checked rules where they catch real bugs (floating
// promises, unsafe any, misused promises), and the layering rule lives in .dependency-cruiser.cjs.
//
// On top of recommendedTypeChecked, a few rules from the strict set that catch bugs rather than style (the strict
// set as a whole is mostly style and would churn every file):
// - switch-exhaustiveness-check: a switch over a union (event kinds, scopes, grant types) must name every member,
//   so adding one fails lint at every place that has to decide what it means;
// - return-await in-try-catch: `return promise` inside try skips the catch (and finally runs too early);
// - use-unknown-in-catch-callback-variable: `.catch((e) => …)` sees `unknown`, like a catch clause does.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/', 'src/web/public/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Koa middleware and route handlers are async by contract (they return a promise) even when one does not await.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a part left unused on purpose: a destructured field dropped from a copy, a contract's parameter.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
        },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'error',
    },
  },
  {
    // CommonJS files loaded by name (jest's summary reporter, a module hook a test preloads in a server process) are
    // outside the TypeScript project, and CommonJS loads with require.
    files: ['**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', process: 'readonly' },
    },
  },
);
