import { LlmResilienceError } from './llm-resilience-error';

/** One problem found in the options, with the path of the offending field. */
export interface ConfigProblem {
  /** JSON-pointer-like path, e.g. `/models/0/timeoutMs`. */
  path: string;
  message: string;
}

/** Invalid options given to `llmResilience()` or one of the middlewares. Thrown at start-up. */
export class ConfigError extends LlmResilienceError {
  readonly code = 'CONFIG_INVALID';
  readonly status = 500;
  readonly expose = false;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      `Invalid koa-llm-resilience options (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'),
    );
    this.problems = problems;
  }
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
