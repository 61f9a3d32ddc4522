import { LlmResilienceError } from './llm-resilience-error';

/**
 * An optional peer dependency a feature needs is not installed (or is a version without what the feature uses).
 * Thrown when the feature is set up: `metricsMiddleware()` without `prom-client`, a token limit without
 * `gpt-tokenizer`, and so on. The message names the package, the version range and the install command.
 */
export class MissingPackageError extends LlmResilienceError {
  readonly code = 'MISSING_PACKAGE';
  readonly status = 500;
  readonly expose = false;
  /** The npm package to install, e.g. `prom-client`. */
  readonly packageName: string;
  /** The versions this library works with, e.g. `^15.1.0`. */
  readonly range: string;
  /** What needs it, e.g. `metricsMiddleware() and registerMetrics()`. */
  readonly neededFor: string;

  constructor(packageName: string, range: string, neededFor: string, options?: { cause?: unknown }) {
    super(`${packageName} (${range}) is needed for ${neededFor} but could not be loaded. Install it next to koa-llm-resilience: npm install ${packageName}@'${range}'`, options);
    this.packageName = packageName;
    this.range = range;
    this.neededFor = neededFor;
  }
}

export function isMissingPackageError(err: unknown): err is MissingPackageError {
  return err instanceof MissingPackageError;
}
