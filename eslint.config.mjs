import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Packages the framework-free core must not import: provider SDKs and web frameworks. */
const NOT_IN_CORE = ['openai', 'openai/*', 'koa', 'koa/*', '@koa/*', 'express', 'express/*', '@anthropic-ai/*', '@google/*'];
/**
 * A relative import of lib/providers, lib/koa, lib/express or lib/http (the providers, the frameworks and their
 * HTTP helpers). By the specifier, not the resolved path: from these files such a name right after the `./` or
 * `../` chain can only be one of those (the core has no folder of these names).
 */
const OUTSIDE_CORE = '^(\\./|(\\./)?(\\.\\./)+)(providers|koa|express|http)(/|$)';
const PACKAGE_NAMES = /^((openai|koa|express)(\/|$)|@(koa|anthropic-ai|google)\/)/;

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The core (and the public types and errors it shares) knows no provider SDK and no framework: the default
    // provider and embedder are handed to it (lib/defaults.ts), the frameworks' layers sit on top of it.
    files: ['lib/core/**/*.ts', 'lib/types.ts', 'lib/errors/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NOT_IN_CORE, message: 'The core imports no provider SDK and no web framework: put it in lib/providers/<name>/ or the framework folder.' },
            { regex: OUTSIDE_CORE, message: 'The core must not reach lib/providers, lib/koa, lib/express or lib/http: have it handed in (see EngineDefaults).' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: `CallExpression[callee.name='require'] > Literal.arguments[value=${PACKAGE_NAMES}]`,
          message: 'The core requires no provider SDK and no web framework.',
        },
        {
          selector: `ImportExpression > Literal.source[value=${PACKAGE_NAMES}]`,
          message: 'The core imports no provider SDK and no web framework.',
        },
        {
          selector: `TSImportType Literal[value=${PACKAGE_NAMES}]`,
          message: 'The core names no provider SDK\'s or web framework\'s types.',
        },
      ],
    },
  },
);
