import type { AttemptRecord } from '../types';
import { LlmResilienceError } from './llm-resilience-error';

/** A malformed `complete()` request: the caller's fault, never retried, never a breaker failure. */
export class RequestError extends LlmResilienceError {
  /**
   * `REQUEST_INVALID` (400), `REQUEST_TOO_LARGE` (413: over `maxPromptChars` / `maxPromptTokens`),
   * `UPSTREAM_REJECTED_REQUEST` (400: a provider rejected the request itself), `CONTEXT_LENGTH_EXCEEDED` (413: the
   * prompt fits no model of the chain, by its `contextWindow` or by the provider's own answer).
   */
  readonly code: 'REQUEST_INVALID' | 'REQUEST_TOO_LARGE' | 'UPSTREAM_REJECTED_REQUEST' | 'CONTEXT_LENGTH_EXCEEDED';
  readonly status: 400 | 413;
  readonly expose = true;
  /** Each problem, with its path in the request (`/messages/0/role`). */
  readonly details: readonly string[];
  /** The attempts made (or skipped) before the request was found at fault; empty when it was refused up front. */
  readonly attempts: readonly AttemptRecord[];

  constructor(
    message: string,
    details: readonly string[] = [],
    options: { status?: 400 | 413; code?: RequestError['code']; cause?: unknown; attempts?: readonly AttemptRecord[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status ?? 400;
    this.code = options.code ?? (this.status === 413 ? 'REQUEST_TOO_LARGE' : 'REQUEST_INVALID');
    this.details = details;
    this.attempts = options.attempts ?? [];
  }
}

export function isRequestError(err: unknown): err is RequestError {
  return err instanceof RequestError;
}
