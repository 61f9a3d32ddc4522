import { LlmResilienceError } from './llm-resilience-error';

/** A malformed `complete()` request: the caller's fault, never retried, never a breaker failure. */
export class RequestError extends LlmResilienceError {
  readonly code: 'REQUEST_INVALID' | 'REQUEST_TOO_LARGE' | 'UPSTREAM_REJECTED_REQUEST';
  readonly status: 400 | 413;
  readonly expose = true;
  /** Each problem, with its path in the request (`/messages/0/role`). */
  readonly details: readonly string[];

  constructor(
    message: string,
    details: readonly string[] = [],
    options: { status?: 400 | 413; code?: RequestError['code']; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status ?? 400;
    this.code = options.code ?? (this.status === 413 ? 'REQUEST_TOO_LARGE' : 'REQUEST_INVALID');
    this.details = details;
  }
}

export function isRequestError(err: unknown): err is RequestError {
  return err instanceof RequestError;
}
