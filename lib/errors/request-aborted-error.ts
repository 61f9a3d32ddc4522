import type { AttemptRecord } from '../types';
import { LlmResilienceError } from './llm-resilience-error';

/** The caller cancelled (its `signal` fired or the HTTP client went away). Not a model failure. */
export class RequestAbortedError extends LlmResilienceError {
  readonly code = 'REQUEST_ABORTED';
  /** 499: nginx's "client closed request"; nobody is listening for it anyway. */
  readonly status = 499;
  readonly expose = false;
  /**
   * The attempts made before the caller went away, the one it interrupted last (outcome `cancelled`); empty when
   * none had started, or when the caller left an identical request's call that others still wait for (the
   * cache's single flight: the call goes on for them).
   */
  readonly attempts: readonly AttemptRecord[];

  constructor(message: string, options?: { cause?: unknown; attempts?: readonly AttemptRecord[] }) {
    super(message, options);
    this.attempts = options?.attempts ?? [];
  }
}

export function isRequestAbortedError(err: unknown): err is RequestAbortedError {
  return err instanceof RequestAbortedError;
}
