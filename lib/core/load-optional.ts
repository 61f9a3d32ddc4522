import { MissingPackageError } from '../errors/missing-package-error';

/** An optional peer dependency: what to install, and what needs it. */
export interface OptionalPackage {
  /** npm package name. */
  readonly name: string;
  /** The versions this library works with (the same range as `peerDependencies` in package.json). */
  readonly range: string;
  /** What needs it, for the error message. */
  readonly neededFor: string;
}

/** The optional peer dependencies, each loaded on first use (none of them is loaded by `require('koa-llm-resilience')`). */
export const OPTIONAL_PACKAGES = {
  promClient: { name: 'prom-client', range: '^15.1.0', neededFor: 'metricsMiddleware() and registerMetrics()' },
  tokenizer: {
    name: 'gpt-tokenizer',
    range: '^4.0.0',
    neededFor: 'counting tokens (the maxPromptTokens and budget options, and models with a contextWindow)',
  },
  ioredis: { name: 'ioredis', range: '^6.0.0', neededFor: 'redisStore() with a `url`' },
  anthropicSdk: { name: '@anthropic-ai/sdk', range: '^1.17.0', neededFor: 'native Anthropic models' },
  googleGenai: { name: '@google/genai', range: '~2.32.0', neededFor: 'native Gemini models' },
} as const satisfies Record<string, OptionalPackage>;

/**
 * Loads an optional peer dependency (or one of its files, `specifier`) the way any of this library's modules
 * would, that is from the app's `node_modules`. When the package itself cannot be found (not installed, or a
 * version without that file), throws a `MissingPackageError` naming it, its range and the install command; any
 * other failure (the package is there but one of its own dependencies is missing, say) is rethrown as it is.
 */
export function loadOptional<T>(pkg: OptionalPackage, specifier: string = pkg.name): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(specifier) as T;
  } catch (err) {
    if (isNotFound(err, specifier)) throw new MissingPackageError(pkg.name, pkg.range, pkg.neededFor, { cause: err });
    throw err;
  }
}

/** Whether `err` says that `specifier` itself (not something it requires) could not be resolved. */
function isNotFound(err: unknown, specifier: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.message !== 'string') return false;
  if (e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
    // "Package subpath './x' is not defined by "exports" in …/node_modules/name/package.json": an older version
    const name = packageOf(specifier);
    const subpath = `.${specifier.slice(name.length)}`;
    return e.message.includes(`'${subpath}'`) && (e.message.includes(`/${name}/package.json`) || e.message.includes(`\\${name.replace('/', '\\')}\\package.json`));
  }
  if (e.code !== 'MODULE_NOT_FOUND') return false;
  // Node: "Cannot find module 'x'\nRequire stack: …"; the first line names the module that was not found.
  return e.message.split('\n', 1)[0].includes(`'${specifier}'`);
}

/** `@scope/name` or `name` of a specifier such as `gpt-tokenizer/encoding/o200k_base`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}
