import type { AttemptRecord } from '../types';
import { LlmResilienceError } from './llm-resilience-error';

/** Every model of the chain failed, timed out, was rate-limited or had its breaker open. */
export class AllModelsFailedError extends LlmResilienceError {
  readonly code = 'ALL_MODELS_FAILED';
  readonly status = 503;
  readonly expose = true;
  readonly attempts: readonly AttemptRecord[];
  /** Seconds until the earliest skipped model may be tried again (breaker half-open or cool-down end); at least 1. */
  readonly retryAfterS: number;

  /** `message`: instead of the one made from `attempts` (e.g. for a closed engine). */
  constructor(attempts: readonly AttemptRecord[], retryAfterS: number, message?: string) {
    super(
      message ??
        (attempts.length === 0 ? 'No model was available to answer' : `All models failed: ${attempts.map((a) => `${a.model} (${a.outcome})`).join(', ')}`),
    );
    this.attempts = attempts;
    this.retryAfterS = retryAfterS;
  }
}

export function isAllModelsFailedError(err: unknown): err is AllModelsFailedError {
  return err instanceof AllModelsFailedError;
}
