import { LlmResilienceError } from './llm-resilience-error';

/** The caller cancelled (its `signal` fired or the HTTP client went away). Not a model failure. */
export class RequestAbortedError extends LlmResilienceError {
  readonly code = 'REQUEST_ABORTED';
  /** 499: nginx's "client closed request"; nobody is listening for it anyway. */
  readonly status = 499;
  readonly expose = false;
}

export function isRequestAbortedError(err: unknown): err is RequestAbortedError {
  return err instanceof RequestAbortedError;
}
